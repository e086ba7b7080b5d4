//! A connection whose first read is short, so that hyper's read buffer starts with room to
//! spare and is reused from request to request instead of allocated anew for each one.
//!
//! hyper's HTTP/1 read buffer (a `BytesMut`) starts at exactly 8 KiB, and hyper reserves 8 KiB
//! of free space before every read. Once a request head is split off the front, less than that
//! is left, and the read hyper makes while the request is in flight (to notice a client that
//! hangs up) must reserve again. The head's bytes are still alive in the request then, so
//! `BytesMut` cannot reclaim its buffer and allocates a new 8 KiB one: one 8 KiB `malloc` and
//! `free` per request, about 5% of the server's instructions for a small JSON route (measured
//! with callgrind in `benches/http.rs`).
//!
//! `axum::serve` escapes this by accident: hyper-util's protocol detection reads the first
//! bytes before hyper does and hands them over first, so hyper's second read grows its buffer
//! to 16 KiB while no request holds it yet, and from then on 8 KiB stay free for many requests
//! and the buffer is reclaimed whenever it runs low after a request ended. [`ShortFirstRead`]
//! does the same on purpose: its first read delivers at most [`FIRST_READ`] bytes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};

/// The most the first read delivers: less than any request head, so hyper reads again.
const FIRST_READ: usize = 16;

/// `io`, whose first read delivers at most [`FIRST_READ`] bytes; every other read and every
/// write is `io`'s own.
pub(crate) struct ShortFirstRead<I> {
    io: I,
    first: bool,
}

impl<I> ShortFirstRead<I> {
    pub(crate) fn new(io: I) -> ShortFirstRead<I> {
        ShortFirstRead { io, first: true }
    }
}

impl<I: Read + Unpin> Read for ShortFirstRead<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.first {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let mut bytes = [0; FIRST_READ];
        let mut short = ReadBuf::new(&mut bytes[..FIRST_READ.min(buf.remaining())]);
        ready!(Pin::new(&mut this.io).poll_read(cx, short.unfilled()))?;
        this.first = false;
        buf.put_slice(short.filled());
        Poll::Ready(Ok(()))
    }
}

impl<I: Write + Unpin> Write for ShortFirstRead<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use hyper_util::rt::TokioIo;
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// Reads once into a buffer of `size` bytes.
    async fn read(
        io: &mut ShortFirstRead<TokioIo<tokio::io::DuplexStream>>,
        size: usize,
    ) -> Vec<u8> {
        let mut bytes = vec![0; size];
        let mut buf = ReadBuf::new(&mut bytes);
        std::future::poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, buf.unfilled()))
            .await
            .unwrap();
        buf.filled().to_vec()
    }

    #[tokio::test]
    async fn only_the_first_read_is_short() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut io = ShortFirstRead::new(TokioIo::new(server));
        let request = b"GET /articles HTTP/1.1\r\nhost: example\r\n\r\n";
        client.write_all(request).await.unwrap();
        let first = read(&mut io, 8192).await;
        assert_eq!(first, request[..FIRST_READ]);
        let rest = read(&mut io, 8192).await;
        assert_eq!(rest, request[FIRST_READ..], "the rest arrives whole");
    }

    #[tokio::test]
    async fn an_end_of_stream_on_the_first_read_is_one() {
        let (client, server) = tokio::io::duplex(1024);
        drop(client);
        let mut io = ShortFirstRead::new(TokioIo::new(server));
        assert!(read(&mut io, 8192).await.is_empty());
    }
}
