//! Seed step H.1: a substitute handed out for a HIP host first stands for
//! the locators in its HIP RR, possibly only its rendezvous server; once
//! the association is up the host's real address (where its R1 came from,
//! RFC 8004 §3.2) is the one in use, and it follows the host's UPDATEs
//! (RFC 8046). `mapping list` shows it. The datapath itself reads the SA's
//! outer addresses, which the HIP events move.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
};

use proxy_proto::hip::assoc::Event;
use tokio::{sync::broadcast, task::JoinHandle};
use tracing::info;

use super::dns_state::DnsState;

/// Follow HIP events into the DNS role's view of each HIT's locator.
pub fn spawn(mut events: broadcast::Receiver<Event>, state: Arc<Mutex<DnsState>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (hit, locator): ([u8; 16], Option<IpAddr>) = match events.recv().await {
                Ok(Event::Established(e)) => (e.peer_hit.to_ipv6().octets(), Some(e.peer_locator)),
                Ok(Event::LocatorChanged { peer_hit, peer_locator, .. }) => {
                    (peer_hit.to_ipv6().octets(), Some(peer_locator))
                }
                Ok(Event::Closed { peer_hit, .. }) => (peer_hit.to_ipv6().octets(), None),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            let before = match locator {
                Some(l) => s.active.insert(hit, l),
                None => s.active.remove(&hit),
            };
            if before != locator && locator.is_some() {
                info!(hit = %std::net::Ipv6Addr::from(hit), ?before, now = ?locator, "mapping: locator in use");
            }
        }
    })
}
