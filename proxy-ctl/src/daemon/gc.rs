//! The NAT flow garbage collector: every interval, remove flows idle past
//! their timeout (crate::flow_timeout) with the reply key that reserves
//! their proxy port.

use std::{sync::Arc, time::Duration};

use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::{config::Config, datapath::Datapath, flow_timeout};

/// CLOCK_MONOTONIC in nanoseconds: the clock bpf_ktime_get_ns() reads.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub async fn run(dp: Arc<Mutex<Datapath>>, cfg: Arc<Config>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let mut dp = dp.lock().await;
        match collect(&mut dp, &cfg, monotonic_ns()) {
            Ok(0) => {}
            Ok(n) => debug!(expired = n, "NAT flows expired"),
            Err(e) => warn!("NAT garbage collection: {e}"),
        }
    }
}

pub fn collect(dp: &mut Datapath, cfg: &Config, now_ns: u64) -> Result<usize, crate::datapath::TableError> {
    let expired: Vec<_> = dp
        .flows()?
        .into_iter()
        .filter(|f| flow_timeout::expired(f.key.proto, f.entry.tcp_state, f.entry.last_seen_ns, now_ns, &cfg.nat))
        .collect();
    for f in &expired {
        dp.remove_flow(f);
    }
    Ok(expired.len())
}
