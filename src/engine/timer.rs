//! Waiting for the pacer's next wake with sub-millisecond precision.
//!
//! tokio's timer wheel ticks once a millisecond, so an arrival due 0.1 ms from now could be released up
//! to a whole tick late, a millisecond of pacer lateness and more. On Linux the pacer waits on a timerfd
//! instead (an hrtimer with nanosecond resolution, registered with tokio's reactor), so it wakes when the
//! arrival is due, with no thread of its own and no spinning. Elsewhere it falls back to tokio's sleep.

use std::time::Instant;

/// One pacer's timer; its waits never overlap, so one descriptor serves the whole run.
pub struct Timer {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl Timer {
    /// A timerfd where the system provides one, tokio's sleep where it does not (or cannot create one).
    /// Must be called within a tokio runtime.
    pub fn new() -> Timer {
        Timer {
            #[cfg(target_os = "linux")]
            fd: linux::create().ok(),
        }
    }

    /// Returns at `deadline` or soon after, never before; at once when it has passed.
    pub async fn sleep_until(&mut self, deadline: Instant) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            if linux::sleep_until(fd, deadline).await.is_ok() {
                return;
            }
        }
        tokio::time::sleep_until(deadline.into()).await;
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags,
        TimerfdTimerFlags, Timespec,
    };
    use std::io;
    use std::os::fd::OwnedFd;
    use std::time::Instant;
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    pub fn create() -> io::Result<AsyncFd<OwnedFd>> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: an `OwnedFd` is open for as long as it lives and always names the same descriptor,
        // and the `AsyncFd` owns it until it is dropped.
        unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(io::Error::from)
    }

    pub async fn sleep_until(fd: &AsyncFd<OwnedFd>, deadline: Instant) -> io::Result<()> {
        let Some(wait) = deadline
            .checked_duration_since(Instant::now())
            .filter(|w| !w.is_zero())
        else {
            return Ok(());
        };
        // Relative: `Instant` does not expose its clock reading, and the nanoseconds between reading
        // the clock and arming the timer are far below anything measured.
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(wait.subsec_nanos()),
            },
        };
        timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        loop {
            let mut ready = fd.readable().await?;
            let mut expirations = [0u8; 8];
            match rustix::io::read(fd.get_ref(), &mut expirations) {
                Ok(_) => {
                    // Consumed: the next arming brings a new edge, so the stale readiness would only
                    // cost the next wait a read that finds nothing.
                    ready.clear_ready();
                    return Ok(());
                }
                Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn never_wakes_early_and_returns_at_once_for_the_past() {
        let mut timer = Timer::new();
        #[cfg(target_os = "linux")]
        assert!(timer.fd.is_some(), "a timerfd is available on Linux");
        for micros in [0u64, 50, 300, 2_500, 40] {
            let deadline = Instant::now() + Duration::from_micros(micros);
            timer.sleep_until(deadline).await;
            assert!(
                Instant::now() >= deadline,
                "woke before a {micros} us deadline"
            );
        }
        timer
            .sleep_until(Instant::now() - Duration::from_millis(5))
            .await;
    }
}
