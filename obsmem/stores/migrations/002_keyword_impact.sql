-- Impact-ordered postings: each query term reads only its most telling postings
-- (highest BM25 term weight, with a fixed reference length of 100 tokens), so a
-- common word costs a bounded index range instead of every document it is in.
-- The exact BM25 score is still computed from tf/doc_len at query time.
ALTER TABLE fix_terms ADD COLUMN impact real
    GENERATED ALWAYS AS (tf / (tf + 1.2 * (0.25 + 0.75 * doc_len / 100.0))) STORED;
CREATE INDEX fix_terms_term_impact ON fix_terms (term, impact DESC) INCLUDE (doc, tf, doc_len);
DROP INDEX fix_terms_term;
