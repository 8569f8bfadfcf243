-- Per-account data versions (docs/hot-path.md): every API request that may write (any method
-- but GET) moves its account's version on before it answers; an API host gives a stored answer
-- of a cacheable read again only under the same version (fcgi/anscache.h). One row per account
-- that ever wrote; a read of an account without a row sees version 0.
CREATE TABLE data_versions (
  account_id CHAR(36)        NOT NULL PRIMARY KEY,
  version    BIGINT UNSIGNED NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;
