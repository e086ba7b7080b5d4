use std::time::Duration;

use framework::ConfigSection;
use serde::Deserialize;
use validator::Validate;

/// `ARTICLES_*` keys.
#[derive(Debug, Clone, Deserialize, Validate)]
pub struct ArticleConfig {
    /// `ARTICLES_DEFAULT_PAGE_SIZE`: the page size when `limit` is absent.
    #[validate(range(min = 1, max = 1000))]
    #[serde(default = "default_page_size")]
    pub default_page_size: u32,
    /// `ARTICLES_MAX_PAGE_SIZE`: the largest `limit` a client may ask for.
    #[validate(range(min = 1, max = 1000))]
    #[serde(default = "max_page_size")]
    pub max_page_size: u32,
    /// `ARTICLES_EVENTS_TOPIC`: where the article events go (and the projection reads them).
    #[validate(length(min = 1))]
    pub events_topic: String,
    /// `ARTICLES_CACHE_TTL_SECS`: how long a read article stays cached.
    #[validate(range(min = 1, max = 86400))]
    #[serde(default = "cache_ttl_secs")]
    pub cache_ttl_secs: u64,
    /// `ARTICLES_WATCH_BUFFER`: how many changes a `WatchArticles` watcher may fall behind
    /// before its stream ends with `ABORTED` (one buffer shared by all watchers).
    #[validate(range(min = 1, max = 65536))]
    #[serde(default = "watch_buffer")]
    pub watch_buffer: usize,
    /// `ARTICLES_MAX_WATCHERS`: how many `WatchArticles` streams may be open at once; more
    /// are refused with `RESOURCE_EXHAUSTED`.
    #[validate(range(min = 1, max = 100000))]
    #[serde(default = "max_watchers")]
    pub max_watchers: usize,
}

impl ArticleConfig {
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache_ttl_secs)
    }
}

impl ConfigSection for ArticleConfig {
    const PREFIX: &'static str = "ARTICLES_";
}

fn default_page_size() -> u32 {
    20
}

fn max_page_size() -> u32 {
    100
}

fn cache_ttl_secs() -> u64 {
    300
}

fn watch_buffer() -> usize {
    1024
}

fn max_watchers() -> usize {
    1000
}
