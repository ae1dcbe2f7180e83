//! The `host` role's address watcher (RFC 8046 §3.2.1: a host announces
//! new locators when its addresses change): rtnetlink address
//! notifications of both families (`hip_addrs`) kept as a set. The HIP
//! driver polls it in its own loop, so a change reaches the core, which
//! moves every association whose locator is gone and signs the UPDATEs,
//! with no hop between tasks.
//!
//! The set is updated from each notification itself (no re-scan of the
//! interfaces on the way to the UPDATE); it is dumped once at start and
//! again only when the kernel says notifications were lost (ENOBUFS).

use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use tracing::{debug, warn};

use super::hip_addrs::{self, AddrSet, AddrWatcher};

/// The usable local addresses and the notifications that change them.
pub struct LocatorWatch {
    watcher: AddrWatcher,
    set: AddrSet,
    last: Vec<IpAddr>,
    buf: Vec<u8>,
}

/// A change of the usable addresses.
pub struct Change {
    pub addrs: Vec<IpAddr>,
    pub removed: Vec<IpAddr>,
    /// When the notification was read (monotonic, and wall clock for the
    /// log: the move benchmark's time zero).
    pub seen: Instant,
    pub seen_wall: SystemTime,
}

impl LocatorWatch {
    /// Subscribe, then list the addresses (a change between the two is
    /// seen; applying a notification twice is harmless). None (logged):
    /// no netlink socket, mobility off.
    pub fn open() -> Option<LocatorWatch> {
        let watcher = match AddrWatcher::open() {
            Ok(w) => w,
            Err(e) => {
                warn!("no rtnetlink address watcher, HIP mobility off: {e:#}");
                return None;
            }
        };
        let set = hip_addrs::dump().unwrap_or_else(|e| {
            warn!("cannot list local addresses: {e:#}");
            AddrSet::default()
        });
        let last = set.addresses();
        debug!(addrs = ?last, "local addresses");
        Some(LocatorWatch { watcher, set, last, buf: vec![0u8; 16384] })
    }

    /// Wait until the usable addresses change. Cancel-safe: a
    /// notification read is applied before the next await.
    pub async fn changed(&mut self) -> std::io::Result<Change> {
        loop {
            let msgs = self.watcher.next(&mut self.buf).await?;
            let (seen, seen_wall) = (Instant::now(), SystemTime::now());
            match msgs {
                Some(msgs) => msgs.iter().for_each(|m| {
                    self.set.apply(m);
                }),
                None => {
                    warn!("rtnetlink address notifications lost: listing the addresses again");
                    match hip_addrs::dump() {
                        Ok(s) => self.set = s,
                        Err(e) => warn!("cannot list local addresses: {e:#}"),
                    }
                }
            }
            let addrs = self.set.addresses();
            if addrs == self.last {
                continue;
            }
            let removed = self.last.iter().filter(|a| !addrs.contains(a)).copied().collect();
            self.last = addrs.clone();
            return Ok(Change { addrs, removed, seen, seen_wall });
        }
    }
}
