//! Rekeying SAs that age (RFC 7402 §6.9, RFC 4303 §3.3.3): an outbound SA
//! keyed by HIP whose sequence number passes `[esp] rekey_after_packets`
//! (or, if that was missed, reaches 2^32-1 and refuses to send) makes the
//! daemon rekey its association by UPDATE, with a new Diffie-Hellman by
//! default (`[esp] rekey_keying`). Once per SA: the aging SA is replaced by
//! the rekey, and the new one counts from 1 again, so one rekey is in
//! flight per association and a burst of events is no storm. A rekey that
//! cannot start now (another UPDATE, or the peer's own rekey, under way)
//! is tried again a second later while the SA is still there.
//!
//! Covers every HIP-keyed SA in the SA table: the `host` role's TUN
//! path and the `proxy` role's TUN path and AF_XDP workers (they seal on
//! the same SAs and push the same events), and the VPN's MN/GW tunnel SAs
//! (they name the HIT that keyed them, `ValidSa::hip_peer`; their roles
//! carry the rekey's steps out on their bundles).

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::Arc,
    time::Duration,
};

use proxy_proto::esp::SaEvent;
use proxy_proto::hip::assoc::RekeyKeying;
use tokio::task::JoinHandle;
use tracing::{debug, info};

use super::hip::HipHandle;
use crate::esp::{SaTable, counters::Counter};

/// Which SA events start a rekey: the sans-IO part of the task.
#[derive(Debug, Default)]
pub struct RekeyPlanner {
    /// Outbound SPIs whose association we already rekey.
    started: HashSet<u32>,
}

impl RekeyPlanner {
    /// The peer HIT to rekey with for `ev`, if any: the SA must be HIP-keyed
    /// (`peer_of` knows its peer) and not rekeyed already.
    pub fn on_event(&mut self, ev: SaEvent, peer_of: impl Fn(u32) -> Option<IpAddr>) -> Option<IpAddr> {
        let (SaEvent::RekeyNeeded { spi } | SaEvent::SequenceExhausted { spi }) = ev;
        if self.started.contains(&spi) {
            return None;
        }
        let peer = peer_of(spi)?;
        self.started.insert(spi);
        Some(peer)
    }

    /// Forget SAs that are gone (replaced by the rekey, or removed).
    pub fn prune(&mut self, exists: impl Fn(u32) -> bool) {
        self.started.retain(|&spi| exists(spi));
    }

    /// The rekey for `spi` did not start: it may be asked for again.
    pub fn not_started(&mut self, spi: u32) {
        self.started.remove(&spi);
    }
}

/// How long before a rekey that could not start is tried again.
const RETRY: Duration = Duration::from_secs(1);

fn spi_of(ev: SaEvent) -> u32 {
    let (SaEvent::RekeyNeeded { spi } | SaEvent::SequenceExhausted { spi }) = ev;
    spi
}

/// Drain the SA table's events and rekey the associations they name.
pub fn spawn(table: Arc<SaTable>, hip: HipHandle, keying: RekeyKeying) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut plan = RekeyPlanner::default();
        // Events whose rekey could not start yet, by SPI.
        let mut retry: HashMap<u32, SaEvent> = HashMap::new();
        loop {
            if retry.is_empty() {
                table.events_pushed().await;
            } else {
                tokio::select! {
                    _ = table.events_pushed() => {}
                    _ = tokio::time::sleep(RETRY) => {}
                }
            }
            plan.prune(|spi| table.hip_peer_of_outbound(spi).is_some());
            let mut events: Vec<SaEvent> = std::mem::take(&mut retry).into_values().collect();
            events.extend(table.drain_events());
            for ev in events {
                let Some(IpAddr::V6(peer)) = plan.on_event(ev, |spi| table.hip_peer_of_outbound(spi)) else {
                    debug!(?ev, "SA event: no rekey (not HIP-keyed, gone, or already rekeying)");
                    continue;
                };
                match hip.rekey(peer, keying).await {
                    Ok(()) => {
                        table.counters.inc(Counter::RekeysStarted);
                        info!(%peer, ?ev, ?keying, "SA aging: rekey by UPDATE started");
                    }
                    Err(e) => {
                        debug!(%peer, ?ev, "SA aging: rekey not started yet: {e:#}");
                        plan.not_started(spi_of(ev));
                        retry.insert(spi_of(ev), ev);
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    const PEER: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 1));

    fn hip_sa(spi: u32) -> Option<IpAddr> {
        (spi < 0x100).then_some(PEER)
    }

    #[test]
    fn soft_limit_then_exhaustion_rekeys_once() {
        let mut p = RekeyPlanner::default();
        assert_eq!(p.on_event(SaEvent::RekeyNeeded { spi: 1 }, hip_sa), Some(PEER));
        // The same SA running out before the new pair is in: no second UPDATE.
        assert_eq!(p.on_event(SaEvent::SequenceExhausted { spi: 1 }, hip_sa), None);
        assert_eq!(p.on_event(SaEvent::RekeyNeeded { spi: 1 }, hip_sa), None);
    }

    #[test]
    fn sequence_exhaustion_alone_rekeys() {
        // Issue 5: sequence numbers exhausted (no soft-limit event seen,
        // e.g. soft limit = hard limit) still leads to a rekey.
        let mut p = RekeyPlanner::default();
        assert_eq!(p.on_event(SaEvent::SequenceExhausted { spi: 2 }, hip_sa), Some(PEER));
    }

    #[test]
    fn manual_or_gone_sas_are_not_rekeyed() {
        let mut p = RekeyPlanner::default();
        assert_eq!(p.on_event(SaEvent::RekeyNeeded { spi: 0x1000 }, hip_sa), None);
        assert_eq!(p.on_event(SaEvent::RekeyNeeded { spi: 3 }, |_| None), None);
        // Not remembered: when it turns up HIP-keyed it is rekeyed.
        assert_eq!(p.on_event(SaEvent::RekeyNeeded { spi: 3 }, hip_sa), Some(PEER));
    }

    #[test]
    fn a_rekey_that_did_not_start_is_asked_for_again() {
        let mut p = RekeyPlanner::default();
        assert_eq!(p.on_event(SaEvent::RekeyNeeded { spi: 6 }, hip_sa), Some(PEER));
        p.not_started(6);
        assert_eq!(p.on_event(SaEvent::RekeyNeeded { spi: 6 }, hip_sa), Some(PEER));
    }

    #[test]
    fn the_replacing_sa_ages_again() {
        let mut p = RekeyPlanner::default();
        assert_eq!(p.on_event(SaEvent::RekeyNeeded { spi: 4 }, hip_sa), Some(PEER));
        p.prune(|spi| spi != 4);
        assert!(p.started.is_empty());
        assert_eq!(p.on_event(SaEvent::RekeyNeeded { spi: 5 }, hip_sa), Some(PEER));
    }
}
