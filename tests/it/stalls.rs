//! Servers that accept a connection and then never answer: every request has a time limit
//! (the profile's `timeout`), a stalled GET is not retried, and the error says what
//! happened. The stall is a loopback listener that reads and never writes.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::output::{code, one_sentence};

/// A listener that accepts every connection, reads what comes and never answers; the count
/// of connections accepted.
fn stalled_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    (addr, accepted)
}

/// `snaptree ls` with `config`; fails the test if it has not ended within `limit` (it
/// hung: the case this guards).
fn ls_with(config: &str, limit: Duration) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_snaptree"))
        .args(["--config", path.to_str().unwrap(), "ls"])
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env_remove("SNAPTREE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("snaptree ls did not end within {limit:?}: it hung on a stalled server");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_stalled_vcenter_fails_within_the_time_limit() {
    let (addr, accepted) = stalled_server();
    let config = format!(
        "[profiles.pcc]\nkind = \"vsphere\"\nurl = \"https://{addr}\"\nusername = \"u\"\npassword = \"p\"\ninsecure = true\ntimeout = \"2s\"\n"
    );
    let o = ls_with(&config, Duration::from_secs(120));
    let line = one_sentence(&o, 1);
    assert!(line.contains("pcc"), "{line}");
    assert!(
        line.contains("timed out") || line.contains("time"),
        "{line}"
    );
    assert!(accepted.load(Ordering::SeqCst) >= 1);
}

/// The profile's `timeout` bounds the whole login, not each of its requests: finding the
/// transport (a VI/JSON hello, then SOAP) took twice the limit on a stalled server.
#[test]
fn a_stalled_vcenter_is_given_up_after_its_timeout_not_twice_it() {
    let (addr, _) = stalled_server();
    let config = format!(
        "[profiles.pcc]\nkind = \"vsphere\"\nurl = \"https://{addr}\"\nusername = \"u\"\npassword = \"p\"\ninsecure = true\ntimeout = \"3s\"\n"
    );
    let start = Instant::now();
    let o = ls_with(&config, Duration::from_secs(120));
    let took = start.elapsed();
    let line = one_sentence(&o, 1);
    assert!(line.contains("pcc") && line.contains("in time"), "{line}");
    assert!(
        took < Duration::from_secs(6),
        "a 3 s timeout took {took:?} to give up: {line}"
    );
}

#[test]
fn a_stalled_ovh_api_fails_once_without_retrying() {
    let (addr, accepted) = stalled_server();
    let config = format!(
        "[profiles.ovh]\nkind = \"ovh\"\nendpoint = \"http://{addr}\"\napplication_key = \"ak\"\napplication_secret = \"as\"\nconsumer_key = \"ck\"\ntimeout = \"2s\"\n"
    );
    let o = ls_with(&config, Duration::from_secs(120));
    assert_eq!(code(&o), 1);
    let line = one_sentence(&o, 1);
    assert!(line.contains("timed out"), "{line}");
    // Signed calls first ask the server's time; either way, one request per call, none
    // repeated after a stall.
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "a stalled GET is not retried"
    );
}

/// An OVH endpoint that answers `/vps` with `body_bytes` of one JSON string (and the time
/// to `/auth/time`); the count of requests.
fn oversized_server(body_bytes: usize) -> String {
    use std::io::Write;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if head.contains("/auth/time") {
                    chrono::Utc::now().timestamp().to_string()
                } else {
                    format!("\"{}\"", "a".repeat(body_bytes))
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

/// A 20 MB answer is refused, not read into memory; a 1 MB one that is not what the schema
/// says is reported with the server's text cut short, never printed whole.
#[test]
fn an_oversized_answer_is_refused_and_quoted_text_is_capped() {
    for (size, expect) in [(20 << 20, "larger than"), (1 << 20, "more characters")] {
        let addr = oversized_server(size);
        let config = format!(
            "[profiles.ovh]\nkind = \"ovh\"\nendpoint = \"http://{addr}\"\napplication_key = \"ak\"\napplication_secret = \"as\"\nconsumer_key = \"ck\"\n"
        );
        let o = ls_with(&config, Duration::from_secs(120));
        assert_eq!(code(&o), 1);
        let line = one_sentence(&o, 1);
        assert!(line.contains(expect), "{}", &line[..line.len().min(500)]);
        assert!(line.len() < 1000, "a {}-byte error line", line.len());
    }
}

/// An unset `password_env` is the profile's configuration, said once: not "authentication
/// failed", and the profile not named twice.
#[test]
fn an_unset_password_variable_is_said_as_such_once() {
    let config = "[profiles.pcc]\nkind = \"vsphere\"\nurl = \"https://127.0.0.1:9\"\nusername = \"u\"\npassword_env = \"SNAPTREE_TEST_NEVER_SET\"\n";
    let o = ls_with(config, Duration::from_secs(60));
    let line = one_sentence(&o, 1);
    assert!(
        line.contains("SNAPTREE_TEST_NEVER_SET") && line.contains("is not set"),
        "{line}"
    );
    assert!(!line.contains("authentication failed"), "{line}");
    assert_eq!(line.matches("profile pcc").count(), 1, "{line}");
}

/// A vCenter where nothing listens: one sentence saying the connection was refused, as
/// before the answer bound's tunnel stood between (the tunnel reports what it met on the
/// way to the server).
#[test]
fn a_vcenter_that_refuses_the_connection_is_said_so() {
    let (_held, closed) = crate::common::closed_port();
    let config = format!(
        "[profiles.pcc]\nkind = \"vsphere\"\nurl = \"https://{closed}\"\nusername = \"u\"\npassword = \"p\"\ninsecure = true\ntimeout = \"5s\"\n"
    );
    let line = one_sentence(&ls_with(&config, Duration::from_secs(60)), 1);
    assert!(
        line.contains("the connection was refused while logging in")
            && line.contains("is the server running and the port right?"),
        "{line}"
    );
}
