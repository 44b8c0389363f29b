//! A TCP proxy that delays what passes through it: ferry over a long link (a VPN gateway, a leased
//! line) in tests and benchmarks, on a kernel without netem. Each direction holds every chunk it
//! reads for half the round-trip delay, give or take half the jitter, and never lets a chunk pass
//! the one before it (a TCP stream keeps its order), so a query's round trip grows by the delay.
//!
//! The harness starts one in-process ([`DelayProxy::start`]); the benchmarks run the same code as
//! the `ferry-delay-proxy` binary.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// What the link adds to every round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkDelay {
    /// Added to a round trip (half each way).
    pub round_trip: Duration,
    /// The round trip varies by up to this much either way.
    pub jitter: Duration,
}

impl LinkDelay {
    /// `ms` ± `jitter_ms` milliseconds per round trip.
    pub fn ms(ms: u64, jitter_ms: u64) -> LinkDelay {
        LinkDelay { round_trip: Duration::from_millis(ms), jitter: Duration::from_millis(jitter_ms.min(ms)) }
    }

    /// One way's hold for a chunk: half the round trip, moved by up to half the jitter.
    fn one_way(&self, rng: &mut XorShift) -> Duration {
        let half = self.round_trip / 2;
        let spread = self.jitter.as_micros() as u64; // ± jitter/2 each way: ± jitter per round trip
        if spread == 0 {
            return half;
        }
        let offset = rng.next() % (spread + 1);
        (half + Duration::from_micros(offset)).saturating_sub(Duration::from_micros(spread / 2))
    }
}

/// A small PRNG for the jitter (no dependency; the jitter need not be good randomness).
struct XorShift(u64);

impl XorShift {
    fn seeded() -> XorShift {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        XorShift(nanos | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A running proxy on 127.0.0.1; stopped (with every connection through it) when dropped.
pub struct DelayProxy {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl DelayProxy {
    /// Listens on a free port of 127.0.0.1 and forwards each connection to `upstream`.
    pub async fn start(upstream: SocketAddr, delay: LinkDelay) -> io::Result<DelayProxy> {
        DelayProxy::listen("127.0.0.1:0".parse().expect("an address"), upstream, delay).await
    }

    /// Listens on `listen` and forwards each connection to `upstream`.
    pub async fn listen(listen: SocketAddr, upstream: SocketAddr, delay: LinkDelay) -> io::Result<DelayProxy> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            // Dropped with the accept task: every connection ends with the proxy.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else {
                            // Out of descriptors, say: wait rather than spin.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        };
                        connections.spawn(async move {
                            if let Ok(server) = TcpStream::connect(upstream).await {
                                relay(client, server, delay).await;
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(DelayProxy { addr, accept })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Both directions of one connection, each delayed; ends when either side closes.
async fn relay(client: TcpStream, server: TcpStream, delay: LinkDelay) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        _ = one_way(client_read, server_write, delay) => {}
        _ = one_way(server_read, client_write, delay) => {}
    }
}

/// Reads chunks from `from` and writes each to `to` once its hold is over, in order.
async fn one_way(mut from: impl AsyncReadExt + Unpin, mut to: impl AsyncWriteExt + Unpin, delay: LinkDelay) {
    // Bounded: a fast sender waits once this many chunks are in flight (what the link holds).
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(4096);
    let reader = async move {
        let mut rng = XorShift::seeded();
        let mut last = Instant::now();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            // Never before the chunk ahead of it: jitter must not reorder a stream.
            let due = (Instant::now() + delay.one_way(&mut rng)).max(last);
            last = due;
            if tx.send((due, buf[..n].to_vec())).await.is_err() {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_stay_within_the_jitter() {
        let d = LinkDelay::ms(30, 5);
        let mut rng = XorShift::seeded();
        for _ in 0..1000 {
            let h = d.one_way(&mut rng);
            assert!(h >= Duration::from_micros(12_500) && h <= Duration::from_micros(17_500), "{h:?}");
        }
        assert_eq!(LinkDelay::ms(30, 0).one_way(&mut rng), Duration::from_millis(15));
    }

    /// A round trip through the proxy takes the delay; bytes arrive whole and in order.
    #[tokio::test]
    async fn a_round_trip_takes_the_delay_and_keeps_the_bytes() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                s.write_all(&buf[..n]).await.unwrap();
            }
        });
        let proxy = DelayProxy::start(echo_addr, LinkDelay::ms(40, 10)).await.unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port())).await.unwrap();
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let started = std::time::Instant::now();
        c.write_all(&payload).await.unwrap();
        let mut back = vec![0u8; payload.len()];
        c.read_exact(&mut back).await.unwrap();
        let took = started.elapsed();
        assert!(back == payload, "the bytes came back changed or out of order");
        assert!(took >= Duration::from_millis(35), "a round trip took {took:?}");
        drop(proxy);
    }
}
