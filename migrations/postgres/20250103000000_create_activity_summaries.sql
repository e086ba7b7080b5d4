-- What the `summarize` job writes, once per tick on one replica: totals of the articles and
-- their changes.
CREATE TABLE activity_summaries (
    taken_at  TIMESTAMPTZ PRIMARY KEY,
    articles  BIGINT NOT NULL,
    changes   BIGINT NOT NULL
);
