//! Fixtures around a `tokenstorm serve` child process: start it on a port, and relay its traffic
//! through a port of the test's own that says when a call has passed, so a test waits for an event
//! instead of sleeping and hoping it happened.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

/// `tokenstorm serve` on `addr`; the URL it prints once it listens.
pub fn serve(profile: &std::path::Path, addr: &str) -> Option<(Child, String)> {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", addr])
        .arg(profile)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let line = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("listening on"));
    let url = line.and_then(|l| {
        l.split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_owned)
    });
    match url {
        Some(url) => Some((child, url)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}

/// A TCP relay on 127.0.0.1 to `upstream` (host:port); its base URL, and a receiver that gets one
/// message for every read from a client that holds `marker` (e.g. a request line).
pub fn relay(upstream: &str, marker: &'static [u8]) -> (String, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a relay port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let upstream = upstream.to_owned();
    let (seen, events) = mpsc::channel();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let (Ok(client), Ok(server)) = (client, TcpStream::connect(&upstream)) else {
                continue;
            };
            let seen = seen.clone();
            let (client_w, server_r) = (client.try_clone(), server.try_clone());
            let (Ok(client_w), Ok(server_r)) = (client_w, server_r) else {
                continue;
            };
            std::thread::spawn(move || copy(server_r, client_w, None));
            std::thread::spawn(move || copy(client, server, Some((marker, seen))));
        }
    });
    (base, events)
}

fn copy(mut from: TcpStream, mut to: TcpStream, watch: Option<(&[u8], mpsc::Sender<()>)>) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if let Some((marker, seen)) = &watch {
            if buf[..n].windows(marker.len()).any(|w| w == *marker) {
                let _ = seen.send(());
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
