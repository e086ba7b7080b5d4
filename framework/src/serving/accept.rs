//! Accepting connections, as the HTTP and gRPC servers do: until shutdown starts, then the
//! connections still queued, then the listener closes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use tokio::net::{TcpListener, TcpStream};

/// `listener`'s connections until `stopped` resolves; then those the kernel had completed but
/// nobody accepted yet, and the listener closes (the stream ends). Closing a listener resets
/// what is still queued, and those clients may have sent a request already: they are
/// served instead (what is left is the time between the last `accept` and the close).
pub(crate) fn connections(
    listener: TcpListener,
    server: &'static str,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> impl Stream<Item = TcpStream> + Send {
    enum State {
        Accepting(TcpListener, Pin<Box<dyn Future<Output = ()> + Send>>),
        Queued(std::vec::IntoIter<TcpStream>),
    }
    let start = State::Accepting(listener, Box::pin(stopped));
    futures_util::stream::unfold(start, move |state| async move {
        let (listener, mut stopped) = match state {
            State::Accepting(listener, stopped) => (listener, stopped),
            State::Queued(mut queued) => {
                return queued.next().map(|io| (io, State::Queued(queued)));
            }
        };
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut stopped => {
                    let mut queued = close(listener).into_iter();
                    return queued.next().map(|io| (io, State::Queued(queued)));
                }
            };
            match accepted {
                Ok((io, _)) => return Some((io, State::Accepting(listener, stopped))),
                Err(error) => accept_failed(error, server).await,
            }
        }
    })
}

/// As hyper 0.14's server did: a connection's own failure is its client's business; anything
/// else (out of file descriptors, say) is logged, with a pause before accepting again.
async fn accept_failed(error: io::Error, server: &str) {
    if is_clients(&error) {
        return;
    }
    tracing::error!(%error, "cannot accept {server} connections");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

fn is_clients(error: &io::Error) -> bool {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// Closes `listener`, returning the connections the kernel had completed that nobody
/// accepted yet.
fn close(listener: TcpListener) -> Vec<TcpStream> {
    // Asked of the socket itself: tokio answers from the readiness its reactor last saw,
    // which may predate the latest connections.
    let Ok(listener) = listener.into_std() else {
        return Vec::new();
    };
    let mut queued = Vec::new();
    loop {
        // Non-blocking (as tokio left it): `WouldBlock` once the queue is empty.
        match listener.accept() {
            // An accepted socket does not inherit the listener's non-blocking mode on Linux;
            // tokio needs it.
            Ok((io, _)) => {
                if io.set_nonblocking(true).is_ok()
                    && let Ok(io) = TcpStream::from_std(io)
                {
                    queued.push(io);
                }
            }
            // A client that gave up: the rest of the queue is still served.
            Err(error) if is_clients(&error) => {}
            Err(_) => return queued,
        }
    }
}
