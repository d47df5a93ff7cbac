-- The tsvector column and its GIN index were computed on every upsert and never
-- queried: keyword search reads the BM25 postings (fix_terms), not tsv. The two
-- text columns existed only to feed tsv. Dropping all four makes an upsert cheaper.
DROP INDEX IF EXISTS fixes_tsv_gin;
ALTER TABLE fixes DROP COLUMN IF EXISTS tsv;
ALTER TABLE fixes DROP COLUMN IF EXISTS issue_terms;
ALTER TABLE fixes DROP COLUMN IF EXISTS search_text;
