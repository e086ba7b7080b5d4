//! The change feed behind `WatchArticles`: each change `ArticleService` makes, handed to every
//! open watcher of this replica as it is made.
//!
//! One `tokio::sync::broadcast` ring of `ARTICLES_WATCH_BUFFER` changes serves all watchers,
//! so memory is bounded whatever the number of watchers or their speed. A watcher that falls
//! further behind than the ring loses changes: it is told so ([`Missed`]), never handed a
//! silent gap. Only this replica's writes reach its feed; the article events topic is what
//! carries every replica's changes.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use framework::{Config, module};
use tokio::sync::broadcast;
use tokio_stream::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::config::ArticleConfig;
use super::events::ArticleEvent;

/// The article changes of this replica, for its watchers.
#[module]
pub struct ArticleFeed {
    config: Config<ArticleConfig>,
    /// Made on first use, `ARTICLES_WATCH_BUFFER` long.
    #[state]
    sender: OnceLock<broadcast::Sender<ArticleEvent>>,
    /// Open watchers, at most `ARTICLES_MAX_WATCHERS`.
    #[state]
    watchers: Arc<AtomicUsize>,
}

/// `ARTICLES_MAX_WATCHERS` watchers are open already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} watchers are open already, the most allowed (ARTICLES_MAX_WATCHERS)")]
pub struct TooManyWatchers(pub usize);

/// A watcher fell further behind than the feed keeps: this many changes are lost to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the watcher fell {0} changes behind, more than ARTICLES_WATCH_BUFFER keeps")]
pub struct Missed(pub u64);

impl ArticleFeed {
    fn sender(&self) -> &broadcast::Sender<ArticleEvent> {
        self.sender
            .get_or_init(|| broadcast::channel(self.config.watch_buffer).0)
    }

    /// Hands a change to every open watcher; call it once the change is stored.
    pub fn publish(&self, event: &ArticleEvent) {
        // No watcher is no error: the change is stored, and nobody is listening.
        let _ = self.sender().send(event.clone());
    }

    /// A new watcher of the changes made from now on.
    pub fn watch(&self) -> Result<Watch, TooManyWatchers> {
        let max = self.config.max_watchers;
        self.watchers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .map_err(|_| TooManyWatchers(max))?;
        Ok(Watch {
            changes: BroadcastStream::new(self.sender().subscribe()),
            _slot: Slot(self.watchers.clone()),
        })
    }

    /// How many watchers are open.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Acquire)
    }
}

/// One watcher: the changes in the order they were made, then [`Missed`] if it fell behind.
/// Dropping it closes the watcher.
pub struct Watch {
    changes: BroadcastStream<ArticleEvent>,
    _slot: Slot,
}

impl Stream for Watch {
    type Item = Result<ArticleEvent, Missed>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.changes).poll_next(cx).map(|change| {
            change.map(|change| change.map_err(|BroadcastStreamRecvError::Lagged(n)| Missed(n)))
        })
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

/// Counts its watcher as open until dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
