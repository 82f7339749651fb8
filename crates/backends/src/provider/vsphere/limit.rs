//! A bound on the size of one vSphere answer. vim_rs reads every response body whole
//! before parsing it, and reqwest's connection type is sealed, so the bound sits between
//! them and the socket: each profile's HTTP client reaches its server through a tunnel on
//! loopback (an HTTP `CONNECT` proxy that serves only that server; TLS stays end to end).
//! Over HTTP/1.1 a connection carries one exchange at a time, and the client writes
//! nothing while it reads an answer but TLS housekeeping (a `KeyUpdate` answer, an alert:
//! a few dozen bytes, each after something from the server), so the bytes the server has
//! sent since the client last wrote a request ([`REQUEST`] bytes or more in a row) are the
//! current answer's. When they pass the profile's `max_answer_mb` (with room for the TLS
//! framing and the headers) the tunnel closes the connection: the call fails, the memory
//! it held is freed, and the error says why (`broken`), in one sentence.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The longest `CONNECT` request read.
const MAX_HEAD: usize = 8 * 1024;

/// The longest wait for the server's TCP connection (at most the profile's `timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Client bytes in a row, with nothing from the server between, that make a request: what
/// starts a new answer. TLS housekeeping records are shorter.
const REQUEST: u64 = 100;

/// How long what a tunnel broke waits for the failed call's error: the call fails at once
/// (the connection closed, or the `CONNECT` refused), so anything older is another story.
const FRESH: Duration = Duration::from_secs(2);

/// Why a tunnel to a server broke a connection, for the error of the call it broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Broken {
    /// An answer grew past the bound (MiB).
    TooLarge(u64),
    /// The server's TCP connection failed: its error.
    Unreachable(std::io::ErrorKind, String),
}

/// What broke, and when, by server (`host:port`, lower case), until a call's error reads it.
static BROKEN: LazyLock<Mutex<HashMap<String, (Broken, Instant)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn remember(target: &str, why: Broken) {
    if let Ok(mut m) = BROKEN.lock() {
        m.insert(target.to_string(), (why, Instant::now()));
    }
}

/// What a tunnel broke on the way to the server of `url` just now, once: the error of the
/// call that failed because of it says so.
pub(super) fn broken(url: &reqwest_vim::Url) -> Option<Broken> {
    let key = target_of_url(url)?;
    let (why, at) = BROKEN.lock().ok()?.remove(&key)?;
    (at.elapsed() <= FRESH).then_some(why)
}

fn target_of_url(url: &reqwest_vim::Url) -> Option<String> {
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    Some(format!("{host}:{port}").to_ascii_lowercase())
}

/// `host` as a profile names it (`vc.example.com`, `10.0.0.5:8989`, `[::1]:443`) as the
/// `host:port` a `CONNECT` names.
pub(super) fn target_of(host: &str) -> Option<String> {
    reqwest_vim::Url::parse(&format!("https://{host}/"))
        .ok()
        .and_then(|u| target_of_url(&u))
}

/// A running tunnel; it stops when dropped.
pub(super) struct Tunnel {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tunnel {
    /// A tunnel on a free loopback port to `target` (`host:port`) alone, closing any answer
    /// longer than `max_mb` MiB, its TCP connections given at most `timeout`. Its tasks run
    /// on the caller's runtime.
    pub(super) async fn start(
        target: String,
        max_mb: u64,
        timeout: Duration,
    ) -> std::io::Result<Tunnel> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let bound = Bound::of(max_mb, CONNECT_TIMEOUT.min(timeout));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, target.clone(), bound));
            }
        });
        Ok(Tunnel { addr, task })
    }

    /// The proxy setting that sends a client's connections through this tunnel.
    pub(super) fn proxy(&self) -> Result<reqwest_vim::Proxy, String> {
        reqwest_vim::Proxy::all(format!("http://{}", self.addr))
            .map_err(|e| format!("cannot set up the answer bound: {e}"))
    }
}

/// One tunnel's limits.
#[derive(Clone, Copy, Debug)]
struct Bound {
    /// `max_answer_mb`, as said in errors.
    mb: u64,
    /// Bytes of one answer past which the connection is closed: the body's bound, with
    /// room for TLS framing (under 1/64) and the headers.
    bytes: u64,
    /// The server's TCP connection's time limit.
    connect: Duration,
}

impl Bound {
    fn of(mb: u64, connect: Duration) -> Bound {
        let body = mb.saturating_mul(1024 * 1024);
        Bound {
            mb,
            bytes: body.saturating_add(body / 64).saturating_add(64 * 1024),
            connect,
        }
    }
}

/// The `host:port` of a `CONNECT` request head, if that is what it is.
fn connect_target(head: &str) -> Option<String> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("CONNECT"), Some(target), Some(version)) if version.starts_with("HTTP/1.") => {
            Some(target.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// One client connection: its `CONNECT`, then bytes both ways, bounded.
async fn serve(mut client: TcpStream, target: String, bound: Bound) {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_HEAD {
            return;
        }
    }
    if connect_target(&String::from_utf8_lossy(&head)).as_deref() != Some(target.as_str()) {
        // Only the profile's server: this is no open proxy.
        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
        return;
    }
    let server = match tokio::time::timeout(bound.connect, TcpStream::connect(&target)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            remember(&target, Broken::Unreachable(e.kind(), e.to_string()));
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
            return;
        }
        Err(_) => {
            remember(
                &target,
                Broken::Unreachable(
                    std::io::ErrorKind::TimedOut,
                    "the TCP connection timed out".into(),
                ),
            );
            let _ = client
                .write_all(b"HTTP/1.1 504 Gateway Timeout\r\n\r\n")
                .await;
            return;
        }
    };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Bytes the server sent since the client's last request: the answer being read; and
    // the client's bytes since the server last sent any.
    let answer = Arc::new(AtomicU64::new(0));
    let asked = Arc::new(AtomicU64::new(0));
    let (answer_up, asked_down) = (answer.clone(), asked.clone());
    let up = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if asked.fetch_add(n as u64, Ordering::Relaxed) + n as u64 >= REQUEST {
                        answer_up.store(0, Ordering::Relaxed);
                    }
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    asked_down.store(0, Ordering::Relaxed);
                    let so_far = answer.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                    if so_far > bound.bytes {
                        remember(&target, Broken::TooLarge(bound.mb));
                        return;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = client_write.shutdown().await;
    };
    // Either way ending ends both: a cut answer closes the connection to both sides.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_as_connect_names_them() {
        assert_eq!(
            target_of("vc.example.com").as_deref(),
            Some("vc.example.com:443")
        );
        assert_eq!(target_of("10.0.0.5:8989").as_deref(), Some("10.0.0.5:8989"));
        assert_eq!(target_of("[::1]:8443").as_deref(), Some("[::1]:8443"));
        assert_eq!(
            connect_target("CONNECT VC.example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n").as_deref(),
            Some("vc.example.com:443")
        );
        assert_eq!(connect_target("GET / HTTP/1.1\r\n\r\n"), None);
    }

    /// A plain TCP server that answers each read with `size` bytes.
    async fn answering(size: usize) -> String {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&vec![b'x'; size]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    /// Through a tunnel to `target`: the CONNECT answer's status line, and the stream.
    async fn connect(t: &Tunnel, target: &str) -> (String, TcpStream) {
        let mut s = TcpStream::connect(t.addr).await.unwrap();
        s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).await.unwrap() == 0 {
                break;
            }
            head.push(b[0]);
        }
        let line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        (line, s)
    }

    /// Bytes read until the connection closes.
    async fn drain(s: &mut TcpStream) -> usize {
        let mut total = 0;
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    }

    #[tokio::test]
    async fn it_serves_only_its_server_and_cuts_an_answer_past_the_bound() {
        let small = answering(300 * 1024).await;
        let t = Tunnel::start(small.clone(), 1, Duration::from_secs(5))
            .await
            .unwrap();
        // Any other destination is refused: no open proxy.
        let (line, _) = connect(&t, "127.0.0.1:9").await;
        assert_eq!(line, "HTTP/1.1 403 Forbidden");
        // Answers within the bound pass whole, each after its request.
        let request = [b'r'; 200];
        let (line, mut s) = connect(&t, &small).await;
        assert_eq!(line, "HTTP/1.1 200 Connection Established");
        for _ in 0..5 {
            s.write_all(&request).await.unwrap();
            let mut got = 0;
            let mut buf = vec![0u8; 64 * 1024];
            while got < 300 * 1024 {
                got += s.read(&mut buf).await.unwrap();
            }
            assert_eq!(got, 300 * 1024);
        }
        assert_eq!(
            broken(&reqwest_vim::Url::parse(&format!("https://{small}/")).unwrap()),
            None
        );

        // One answer past the bound: closed before the client got more than the bound.
        let big = answering(5 * 1024 * 1024).await;
        let t = Tunnel::start(big.clone(), 1, Duration::from_secs(5))
            .await
            .unwrap();
        let (_, mut s) = connect(&t, &big).await;
        s.write_all(&request).await.unwrap();
        let got = drain(&mut s).await;
        assert!(
            got <= usize::try_from(Bound::of(1, CONNECT_TIMEOUT).bytes).unwrap(),
            "read {got} bytes"
        );
        let url = reqwest_vim::Url::parse(&format!("https://{big}/")).unwrap();
        assert_eq!(broken(&url), Some(Broken::TooLarge(1)));
        assert_eq!(broken(&url), None, "said once");
    }

    /// A server that makes the client write a few bytes now and then (as a TLS
    /// `KeyUpdate` does) does not start a new answer: the bound still holds.
    #[tokio::test]
    async fn a_few_client_bytes_between_do_not_start_a_new_answer() {
        let chatty = answering(400 * 1024).await;
        let t = Tunnel::start(chatty.clone(), 1, Duration::from_secs(5))
            .await
            .unwrap();
        let (_, mut s) = connect(&t, &chatty).await;
        s.write_all(&[b'r'; 200]).await.unwrap();
        let mut got = 0;
        let mut buf = vec![0u8; 64 * 1024];
        for _ in 0..5 {
            let before = got;
            while got < before + 400 * 1024 {
                match s.read(&mut buf).await.unwrap() {
                    0 => break,
                    n => got += n,
                }
            }
            if got < before + 400 * 1024 || s.write_all(b"ku").await.is_err() {
                break;
            }
        }
        assert!(
            got <= usize::try_from(Bound::of(1, CONNECT_TIMEOUT).bytes).unwrap(),
            "read {got} bytes"
        );
        let url = reqwest_vim::Url::parse(&format!("https://{chatty}/")).unwrap();
        assert_eq!(broken(&url), Some(Broken::TooLarge(1)));
    }

    #[tokio::test]
    async fn a_refused_connection_is_remembered_for_the_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = listener.local_addr().unwrap().to_string();
        drop(listener);
        let t = Tunnel::start(closed.clone(), 1, Duration::from_secs(5))
            .await
            .unwrap();
        let (line, _) = connect(&t, &closed).await;
        assert_eq!(line, "HTTP/1.1 502 Bad Gateway");
        let url = reqwest_vim::Url::parse(&format!("https://{closed}/")).unwrap();
        assert!(matches!(
            broken(&url),
            Some(Broken::Unreachable(
                std::io::ErrorKind::ConnectionRefused,
                _
            ))
        ));
    }
}
