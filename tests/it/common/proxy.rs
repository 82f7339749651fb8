//! A loopback TCP proxy that injects faults between snaptree and a server: it forwards
//! both ways until told to stall, to cut a server's answer after some bytes, or to let one
//! request through and lose its answer (the connection dies with the change sent).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to the traffic from now on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Forward nothing either way and keep the connections open (a stopped server).
    Stall,
    /// Close a connection once the server has sent this many bytes on it.
    CutAnswerAfter(usize),
    /// Forward the next request containing these bytes (plain HTTP), then close the
    /// connection without forwarding a byte of its answer. Once; then `None` again.
    LoseAnswerTo(Vec<u8>),
}

/// A running proxy; its threads end with the process.
pub struct Proxy {
    addr: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    lost: Arc<AtomicUsize>,
}

impl Proxy {
    /// A proxy on a free loopback port forwarding to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let fault = Arc::new(Mutex::new(Fault::None));
        let lost = Arc::new(AtomicUsize::new(0));
        let (f, l) = (fault.clone(), lost.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                connect(client, server, f.clone(), l.clone());
            }
        });
        Proxy { addr, fault, lost }
    }

    /// Where snaptree should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Change what the proxy does from now on.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// How many answers were lost on purpose.
    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

fn current(fault: &Mutex<Fault>) -> Fault {
    fault.lock().unwrap().clone()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Pump one client connection both ways under the shared fault.
fn connect(client: TcpStream, server: TcpStream, fault: Arc<Mutex<Fault>>, lost: Arc<AtomicUsize>) {
    let losing = Arc::new(AtomicBool::new(false));
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (fault_up, losing_up) = (fault.clone(), losing.clone());
    let (client_up, server_up) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            let n = match c_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let f = current(&fault_up);
            if f == Fault::Stall {
                continue;
            }
            if s_write.write_all(&buf[..n]).is_err() {
                break;
            }
            if let Fault::LoseAnswerTo(needle) = f
                && contains(&buf[..n], &needle)
            {
                *fault_up.lock().unwrap() = Fault::None;
                losing_up.store(true, Ordering::SeqCst);
                lost.fetch_add(1, Ordering::SeqCst);
                // The rest of the request (its body) still goes through; then the line dies.
                let (c, s) = (
                    client_up.try_clone().unwrap(),
                    server_up.try_clone().unwrap(),
                );
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(300));
                    let _ = c.shutdown(Shutdown::Both);
                    let _ = s.shutdown(Shutdown::Both);
                });
            }
        }
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        let mut sent = 0usize;
        loop {
            let n = match s_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if losing.load(Ordering::SeqCst) {
                continue;
            }
            match current(&fault) {
                Fault::Stall => continue,
                Fault::CutAnswerAfter(limit) => {
                    let room = limit.saturating_sub(sent).min(n);
                    let _ = c_write.write_all(&buf[..room]);
                    sent += room;
                    if sent >= limit {
                        let _ = c_write.shutdown(Shutdown::Both);
                        let _ = s_read.shutdown(Shutdown::Both);
                        break;
                    }
                }
                _ => {
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
            }
        }
        let _ = c_write.shutdown(Shutdown::Write);
    });
}
