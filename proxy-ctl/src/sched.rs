//! Real-time scheduling for the threads on the packet and handover path
//! (`[scheduling] realtime_priority`).
//!
//! Why: on a shared box a woken thread waits for the CPU behind whatever
//! else runs there; a VPN handover is a chain of such wake-ups (the
//! mobile node's driver, the gateway's ESP receive thread, the home agent's registration thread, the
//! gateway's SIU thread, the ESP send and receive threads carrying the
//! first data), and each wait adds to the time the mobile node is cut off
//! (docs/BENCHMARKS.md, bench handover). Under SCHED_FIFO such a thread
//! preempts every normal task at once.
//!
//! Only threads that block between packets get it: the host path's ESP
//! threads (`esp-rx`, `esp-tx`, and with `[esp] host_datapath` its AF_XDP
//! receive workers `esp-xskN`, which spin a few microseconds before they
//! sleep in poll), `vpn-mn`, `vpn-ha` and `vpn-gw`. The proxy's AF_XDP
//! workers carry both directions of every flow and the tokio runtime runs
//! arbitrary tasks (the HIP base exchange among them): neither is made
//! real-time, so a flood cannot make them starve the rest of the box. The kernel's real-time
//! throttling (`kernel.sched_rt_runtime_us`, 95 % by default) still bounds
//! what the real-time threads may take.

use std::sync::OnceLock;

/// The configured priority, once [`configure`] has checked it can be had.
static PRIORITY: OnceLock<u8> = OnceLock::new();

/// Highest SCHED_FIFO priority the config accepts (Linux: 1-99).
pub const MAX_PRIORITY: u8 = 99;

#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    #[error("realtime_priority {0}: expected 1..=99")]
    Range(u8),
    #[error(
        "realtime_priority {priority}: SCHED_FIFO refused ({source}); it needs CAP_SYS_NICE or an RLIMIT_RTPRIO of \
         at least the priority, and real-time runtime in the daemon's cgroup"
    )]
    Refused { priority: u8, source: std::io::Error },
    #[error("realtime_priority: the probe thread failed: {0}")]
    Probe(std::io::Error),
}

/// Check that SCHED_FIFO at `priority` can be had (on a probe thread, so
/// the caller's own policy is untouched) and make [`enter`] use it. `None`
/// leaves every thread at the normal policy.
pub fn configure(priority: Option<u8>) -> Result<(), SchedError> {
    let Some(priority) = priority else { return Ok(()) };
    if !(1..=MAX_PRIORITY).contains(&priority) {
        return Err(SchedError::Range(priority));
    }
    let probe = std::thread::Builder::new()
        .name("sched-probe".into())
        .spawn(move || set_fifo(priority))
        .map_err(SchedError::Probe)?;
    let r = probe.join().unwrap_or_else(|_| Err(std::io::Error::other("probe thread panicked")));
    r.map_err(|source| SchedError::Refused { priority, source })?;
    // A second configure (tests) keeps the first value.
    let _ = PRIORITY.set(priority);
    tracing::info!(priority, "real-time scheduling (SCHED_FIFO) for the packet and handover threads");
    Ok(())
}

/// The configured priority, if any.
pub fn priority() -> Option<u8> {
    PRIORITY.get().copied()
}

/// Called first thing by each thread on the packet or handover path: moves
/// the calling thread to SCHED_FIFO when configured. A failure here (the
/// probe passed, so only a changed limit or cgroup) leaves the thread at
/// the normal policy and says so.
pub fn enter(thread: &str) {
    let Some(priority) = priority() else { return };
    match set_fifo(priority) {
        Ok(()) => tracing::debug!(thread, priority, "thread runs SCHED_FIFO"),
        Err(e) => tracing::warn!(thread, priority, "SCHED_FIFO refused, thread stays at the normal policy: {e}"),
    }
}

fn set_fifo(priority: u8) -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: i32::from(priority) };
    // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread
    // (Linux applies the policy per thread).
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_priorities_are_refused() {
        assert!(matches!(configure(Some(0)), Err(SchedError::Range(0))));
        assert!(matches!(configure(Some(100)), Err(SchedError::Range(100))));
        assert!(configure(None).is_ok());
    }
}
