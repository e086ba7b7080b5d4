-- Each write of an article increments its version in the same statement, so the order of an
-- article's changes (and of their events) is the one the database decided.
ALTER TABLE articles ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- Every change the projection counted, by article and version: a redelivered event is
-- counted once, and events counted out of order are all counted.
CREATE TABLE article_changes (
    article_id  UUID   NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (article_id, version)
);

-- The last event is the one of the highest version, not the last one to arrive.
ALTER TABLE article_activity ADD COLUMN last_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE article_activity DROP COLUMN last_at;
