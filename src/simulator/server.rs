//! Running the router on a socket: start on an address (port 0 picks a free one), read truth, stop.

use super::config::Config;
use super::state::Shared;
use super::truth::{Truth, TruthSnapshot};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long `stop` waits for requests in flight (a stalled one may never finish) before cutting them off.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Connections waiting to be accepted, at most (the kernel caps it at `net.core.somaxconn`). tokio's
/// `bind` asks for 1,024: a load test's first burst of connections overflowed it, and each connection
/// the kernel dropped came back a second later (SYN retransmission), a 1 s latency the server never saw.
const LISTEN_BACKLOG: u32 = 8_192;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does on Unix: a restarted server can take its port back at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A running server. Dropping it without `stop` aborts it.
pub struct Server {
    addr: SocketAddr,
    truth: Truth,
    state: Shared,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Binds `addr` and serves in a background task of the current tokio runtime.
    pub async fn start(config: Config, addr: SocketAddr) -> std::io::Result<Server> {
        let listener = listen(addr)?;
        let addr = listener.local_addr()?;
        let (router, state) = super::build(config);
        let truth = state.truth.clone();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serve = axum::serve(listener, router).with_graceful_shutdown(async {
            // A dropped sender also means stop.
            let _ = stopped.await;
        });
        let task = tokio::spawn(async move { serve.await });
        Ok(Server {
            addr,
            truth,
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn truth(&self) -> TruthSnapshot {
        self.truth.snapshot()
    }

    /// A handle on the counters that outlives the server.
    pub fn truth_handle(&self) -> Truth {
        self.truth.clone()
    }

    /// Closes the sockets (1001), stops accepting, lets requests in flight finish for up to a few
    /// seconds, then cuts them off.
    pub async fn stop(mut self) {
        // Upgraded sockets are not the HTTP server's connections any more: they are told apart.
        self.state.messaging.stop();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.messaging.stop();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
