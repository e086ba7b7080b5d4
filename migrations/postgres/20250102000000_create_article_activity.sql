-- The article-activity projection, fed by the article events.
CREATE TABLE article_activity (
    article_id  UUID PRIMARY KEY,
    changes     BIGINT      NOT NULL,
    last_event  VARCHAR(32) NOT NULL,
    -- Microseconds since the epoch of the last counted event: a redelivered event is not
    -- counted twice.
    last_at     BIGINT      NOT NULL
);
