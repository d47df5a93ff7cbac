-- The vector store: one row per fix, its embedding, filters and keyword index.
-- Applied by obsmem.vectors.migrate() in one transaction.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE obsmem_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE fixes (
    id            text PRIMARY KEY,
    -- compact surrogate key for the keyword postings (8 bytes instead of the text id)
    doc           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    issue         text NOT NULL,
    solution      text NOT NULL,
    -- keyword tokens made by obsmem/text.py (CamelCase split, placeholders removed)
    issue_terms   text NOT NULL DEFAULT '',
    search_text   text NOT NULL DEFAULT '',
    doc_len       real NOT NULL DEFAULT 0,
    tsv           tsvector GENERATED ALWAYS AS (
                      setweight(to_tsvector('simple', issue_terms), 'A')
                      || setweight(to_tsvector('simple', search_text), 'B')
                  ) STORED,
    embedding     vector(384) NOT NULL,
    success       boolean,
    successes     integer NOT NULL DEFAULT 0,
    failures      integer NOT NULL DEFAULT 0,
    occurrences   integer NOT NULL DEFAULT 1,
    recent_events text[] NOT NULL DEFAULT '{}',  -- last 32 event ids: replays count once
    agent         text,
    service       text,
    namespace     text,
    severity      text,
    root_cause    text,
    signature     text,
    confidence    real,
    tags          text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    metadata      jsonb NOT NULL DEFAULT '{}'
);

-- HNSW, cosine. m=16 / ef_construction=64 are pgvector's defaults and measure
-- recall@10 >= 0.98 at 100k 384-dim rows with ef_search 100 (bench/vector_bench.py);
-- higher values roughly double build time on a 2-core box for < 1 point of recall.
CREATE INDEX fixes_embedding_hnsw ON fixes
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX fixes_tsv_gin ON fixes USING gin (tsv);
CREATE INDEX fixes_service ON fixes (service);
CREATE INDEX fixes_agent ON fixes (agent);
CREATE INDEX fixes_success ON fixes (success);
CREATE INDEX fixes_root_cause ON fixes (root_cause);
CREATE INDEX fixes_last_seen ON fixes (last_seen);
CREATE INDEX fixes_created_at ON fixes (created_at);
CREATE INDEX fixes_signature ON fixes (signature);

-- BM25 inside Postgres: postings (term -> doc, term frequency) plus document
-- frequencies and collection size, kept in step by upsert/delete. Postgres'
-- ts_rank has no IDF, and IDF is what tells sibling runbooks apart.
CREATE TABLE fix_terms (
    doc     bigint NOT NULL,
    term    text NOT NULL,
    tf      real NOT NULL,      -- issue occurrences weighted up, see obsmem/text.py
    doc_len real NOT NULL,
    PRIMARY KEY (doc, term)
);
CREATE INDEX fix_terms_term ON fix_terms (term) INCLUDE (doc, tf, doc_len);

CREATE TABLE term_df (
    term text PRIMARY KEY,
    df   integer NOT NULL
);

CREATE TABLE keyword_stats (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    docs      bigint NOT NULL DEFAULT 0,
    total_len double precision NOT NULL DEFAULT 0
);
INSERT INTO keyword_stats DEFAULT VALUES;
