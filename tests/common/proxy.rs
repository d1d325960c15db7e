//! A TCP proxy in front of a test server that a test can take down, slow down and bring back,
//! to see how maas meets an S3 endpoint that fails. On 127.0.0.1 and a free port.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the proxy does with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards it to the upstream server.
    Up = 0,
    /// Closes it at once, as a server that is down.
    Down = 1,
    /// Accepts it and never answers, as a stalled server.
    Stalled = 2,
    /// Forwards it, but closes it once the server has sent [`Proxy::cut_after`] bytes on it: a
    /// long answer breaks off mid-body, as a connection reset would.
    Cut = 3,
}

pub struct Proxy {
    mode: Arc<AtomicU8>,
    cut_after: Arc<AtomicU64>,
    pub endpoint: String,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`), up.
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(Mode::Up as u8));
        let cut_after = Arc::new(AtomicU64::new(u64::MAX));
        let upstream = upstream.to_string();
        let (shared, limit) = (Arc::clone(&mode), Arc::clone(&cut_after));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let mode = Arc::clone(&shared);
                let limit = limit.load(Ordering::SeqCst);
                let upstream = upstream.clone();
                std::thread::spawn(move || serve(client, &upstream, &mode, limit));
            }
        });
        Proxy {
            mode,
            cut_after,
            endpoint,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Cuts connections opened from now on after `bytes` of the server's answers.
    pub fn cut_after(&self, bytes: u64) {
        self.cut_after.store(bytes, Ordering::SeqCst);
        self.set(Mode::Cut);
    }
}

fn serve(client: TcpStream, upstream: &str, mode: &AtomicU8, cut_after: u64) {
    match mode.load(Ordering::SeqCst) {
        m if m == Mode::Down as u8 => {
            let _ = client.shutdown(Shutdown::Both);
        }
        m if m == Mode::Stalled as u8 => {
            // hold the connection, unanswered, until the client gives up or 2 minutes pass
            let started = Instant::now();
            let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
            let mut sink = [0u8; 4096];
            let mut reader = &client;
            while started.elapsed() < Duration::from_secs(120) {
                match reader.read(&mut sink) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => return,
                }
            }
        }
        _ => {
            let Ok(server) = TcpStream::connect(upstream) else {
                return;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let up = std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(Shutdown::Write);
            });
            let (s, mut c) = (server, client);
            let limit = if mode.load(Ordering::SeqCst) == Mode::Cut as u8 {
                cut_after
            } else {
                u64::MAX
            };
            let _ = std::io::copy(&mut (&s).take(limit), &mut c);
            // cut: both ways at once, so the client sees its answer end mid-body
            if limit != u64::MAX {
                let _ = c.shutdown(Shutdown::Both);
                let _ = s.shutdown(Shutdown::Both);
            }
            let _ = c.flush();
            let _ = c.shutdown(Shutdown::Write);
            let _ = up.join();
        }
    }
}
