//! The live progress line while a variant runs: elapsed time, requests sent, 401s and refreshes.

use crate::metrics::Recorder;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::time::Duration;

pub struct Progress {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// A bar over the variant's planned seconds; hidden when `visible` is false.
    pub fn start(
        variant: &str,
        planned: Duration,
        recorder: Arc<Recorder>,
        visible: bool,
    ) -> Progress {
        let bar = ProgressBar::with_draw_target(
            Some(planned.as_secs().max(1)),
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        if let Ok(style) =
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos:>4}/{len}s {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(variant.to_owned());
        let ticking = bar.clone();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let live = recorder.live();
                ticking.set_position(recorder.start().elapsed().as_secs());
                ticking.set_message(format!(
                    "sent {}  401s {}  refreshes {}  dropped {}",
                    live.sent, live.unauthorized, live.refreshes, live.dropped
                ));
            }
        });
        Progress { bar, ticker }
    }

    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}
