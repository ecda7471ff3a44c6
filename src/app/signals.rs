//! Ctrl-C and SIGTERM: the first asks the run to stop and report, a second one to stop at once.

use tokio::sync::watch;

/// Which signal stopped the run; decides the exit code (128 + signal number, as shells do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// How many signals have arrived, and the first one.
type Seen = (u32, Option<Signal>);

#[derive(Clone)]
pub struct Signals {
    /// How many signals have arrived, and the first one.
    rx: watch::Receiver<Seen>,
    /// Held by signal sets that nothing feeds, so their channel never reads as closed.
    _quiet: Option<std::sync::Arc<watch::Sender<Seen>>>,
}

impl Signals {
    /// Listens for SIGINT and SIGTERM for the rest of the process.
    pub fn listen() -> Signals {
        let (tx, rx) = watch::channel((0, None));
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                #[cfg(unix)]
                let got = tokio::select! {
                    r = tokio::signal::ctrl_c() => r.ok().map(|_| Signal::Interrupt),
                    s = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => s.map(|_| Signal::Terminate),
                };
                #[cfg(not(unix))]
                let got = tokio::signal::ctrl_c()
                    .await
                    .ok()
                    .map(|_| Signal::Interrupt);
                let Some(signal) = got else { return };
                tx.send_modify(|(count, first)| {
                    *count += 1;
                    first.get_or_insert(signal);
                });
            }
        });
        Signals { rx, _quiet: None }
    }

    /// Signals that never fire, for library callers and tests.
    pub fn none() -> Signals {
        let (tx, rx) = watch::channel((0, None));
        Signals {
            rx,
            _quiet: Some(std::sync::Arc::new(tx)),
        }
    }

    pub fn first(&self) -> Option<Signal> {
        self.rx.borrow().1
    }

    /// Resolves once `n` signals have arrived.
    pub async fn count_reaches(&self, n: u32) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|(count, _)| *count >= n).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// A plain stop flag for the engine, true from the first signal on.
    pub fn stop_flag(&self) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        let me = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = me.count_reaches(1) => { let _ = tx.send(true); }
                _ = tx.closed() => {}
            }
        });
        rx
    }
}
