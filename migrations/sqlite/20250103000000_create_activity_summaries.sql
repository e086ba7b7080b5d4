-- What the `summarize` job writes, once per tick on one replica: totals of the articles and
-- their changes.
CREATE TABLE activity_summaries (
    taken_at  TEXT PRIMARY KEY NOT NULL,
    articles  INTEGER NOT NULL,
    changes   INTEGER NOT NULL
);
