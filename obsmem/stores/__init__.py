"""Everything that talks to a server, and nothing else does.

`router.DatabaseManager` routes every read and write over the two stores (`graph/` and `pgvector`),
with the durable `outbox` + `replay` for writes a store can't take now and a `breaker` per store;
`embedded` starts the default servers in the data dir.
"""
