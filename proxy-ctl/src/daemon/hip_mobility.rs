//! The `host` role's address watcher (RFC 8046 §3.2.1: a host announces
//! new locators when its addresses change): rtnetlink address events, the
//! same watcher the mobile VPN node uses, then the current IPv4 addresses
//! go to the HIP core, which moves every association whose locator is gone
//! and sends UPDATE(LOCATOR_SET) to its peers and its rendezvous server.

use std::net::IpAddr;

use tracing::{debug, warn};

use super::hip::HipHandle;
use super::vpn_netlink::{self, Watcher};

/// The addresses a HIP association may use as locators: IPv4 unicast,
/// not loopback or link-local.
pub fn usable_addresses() -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = vpn_netlink::current_addresses()
        .into_iter()
        .map(|(_, _, a)| a)
        .filter(|a| !a.is_loopback() && !a.is_link_local() && !a.is_unspecified())
        .map(IpAddr::V4)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Start the watcher task; without a netlink socket mobility is off (logged).
pub fn spawn_watcher(hip: HipHandle) -> anyhow::Result<()> {
    let watcher = match Watcher::open() {
        Ok(w) => w,
        Err(e) => {
            warn!("no rtnetlink address watcher, HIP mobility off: {e:#}");
            return Ok(());
        }
    };
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16384];
        loop {
            match watcher.next(&mut buf).await {
                Ok(events) if events.is_empty() => continue,
                Ok(events) => {
                    let addrs = usable_addresses();
                    debug!(?events, ?addrs, "address change");
                    if hip.set_locators(addrs).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!("rtnetlink watcher stopped, HIP mobility off: {e}");
                    return;
                }
            }
        }
    });
    Ok(())
}
