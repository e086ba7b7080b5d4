-- The article-activity projection, fed by the article events.
CREATE TABLE article_activity (
    article_id  BLOB PRIMARY KEY NOT NULL,
    changes     INTEGER NOT NULL,
    last_event  TEXT    NOT NULL,
    -- Microseconds since the epoch of the last counted event: a redelivered event is not
    -- counted twice.
    last_at     INTEGER NOT NULL
);
