-- uuid as 16-byte BLOB and timestamps as RFC 3339 TEXT: how sqlx encodes them for SQLite.
CREATE TABLE articles (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE INDEX articles_created_at ON articles (created_at, id);
