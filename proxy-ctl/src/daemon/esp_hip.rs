//! HIP and ESP together (RFC 7402 §4): an ESTABLISHED association installs
//! its SA pair (inner addresses the HITs, outer the locators, keys from
//! KEYMAT); a CLOSE removes it; the first ESP packet on an inbound SA moves
//! the Responder from R2-SENT to ESTABLISHED (RFC 7401 §4.4.2); a local packet to a HIT without SA starts
//! the base exchange, and the ESP worker releases the held packet as soon
//! as the SAs are in (connect time = base exchange time plus a wake-up).

use std::{net::IpAddr, sync::Arc};

use proxy_proto::hip::{
    assoc::{Established, Event},
    crypto::Hit,
};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::hip::{EventHook, HipHandle};
use crate::esp::{Direction, ModeName, SaSpec, SaTable, ValidSa, spec::transform_name};

fn is_hit(a: IpAddr) -> bool {
    matches!(a, IpAddr::V6(v6) if Hit::from(v6).is_orchid())
}

/// Where to reach a peer HIT whose SA is missing (the proxy: the locators
/// of the HIP RR its substitute came from); empty: the `[[hip.peer]]` table.
pub type LocatorLookup = Arc<dyn Fn(std::net::Ipv6Addr) -> Vec<IpAddr> + Send + Sync>;

/// Start the two glue tasks: HIP events -> SA table, SA misses -> HIP.
pub fn spawn(table: Arc<SaTable>, hip: HipHandle, locate: Option<LocatorLookup>) -> Vec<JoinHandle<()>> {
    let (tx, mut misses) = tokio::sync::mpsc::unbounded_channel();
    table.set_miss_sender(tx, is_hit);
    let (first_tx, mut first_esp) = tokio::sync::mpsc::unbounded_channel();
    table.set_first_esp_sender(first_tx);
    let credit_table = table.clone();
    // Installed from inside the HIP driver, before its R2 leaves: an
    // installer task could lose the race against the Initiator's first
    // ESP packet (dropped as an unknown SPI, a SYN then waits 1 s).
    let hook: EventHook = Arc::new(move |ev: &Event| match ev {
        Event::Established(e) => install(&table, e),
        Event::Closed { peer_hit, .. } => {
            let n = table.remove_peer(IpAddr::V6(peer_hit.to_ipv6()));
            info!(peer = %peer_hit.to_ipv6(), removed = n, "association closed: SAs removed");
        }
        Event::Failed { peer_hit, .. } => table.give_up(IpAddr::V6(peer_hit.to_ipv6())),
        Event::LocatorChanged { peer_hit, local_locator, peer_locator, inbound_spi, outbound_spi, credit, .. } => {
            // RFC 8046 §3.2: same SAs and keys, new outer addresses; an
            // unverified peer locator only within its credit (§5.5).
            for (dir, spi) in [(Direction::Out, *outbound_spi), (Direction::In, *inbound_spi)] {
                if let Err(e) = table.move_outer_with_credit(dir, spi, *local_locator, *peer_locator, *credit) {
                    warn!(peer = %peer_hit.to_ipv6(), spi, "SA not moved: {e}");
                }
            }
            // Debug: this runs before the driver's packets go out (the
            // driver logs the move at info after them).
            debug!(peer = %peer_hit.to_ipv6(), local = %local_locator, peer_locator = %peer_locator, ?credit, "SAs moved");
        }
        _ => {}
    });
    if let Err(e) = hip.set_event_hook(hook) {
        warn!("HIP events not joined to ESP: {e:#}");
    }
    if hip.credit_based_authorization() {
        // Credit (RFC 8046 §5.5.1) is earned by what the peers send us:
        // their inbound SAs' byte counters, read once a second (the core
        // ages the credit in 5 s steps).
        let (table, hip) = (credit_table, hip.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                if hip.observe_received(received_by_peer(&table)).await.is_err() {
                    return;
                }
            }
        });
    }
    let hip_first = hip.clone();
    let established = tokio::spawn(async move {
        while let Some((local, peer)) = first_esp.recv().await {
            if let (IpAddr::V6(l), IpAddr::V6(p)) = (local, peer)
                && let Err(e) = hip_first.esp_received(Hit::from(l), Hit::from(p)).await
            {
                warn!("ESP received not passed to HIP: {e:#}");
            }
        }
    });
    let initiator = tokio::spawn(async move {
        while let Some(dst) = misses.recv().await {
            let IpAddr::V6(hit) = dst else { continue };
            let hip = hip.clone();
            let locators = locate.as_ref().map(|l| l(hit)).unwrap_or_default();
            tokio::spawn(async move {
                info!(peer = %hit, ?locators, "no SA: starting the base exchange");
                if let Err(e) = hip.initiate(hit, locators).await {
                    warn!(peer = %hit, "base exchange for held packets failed: {e:#}");
                }
            });
        }
    });
    vec![established, initiator]
}

/// (local HIT, peer HIT, inbound SPI, bytes delivered) of every inbound
/// BEET SA a HIP association installed.
fn received_by_peer(table: &SaTable) -> Vec<(Hit, Hit, u32, u64)> {
    table
        .list(false)
        .into_iter()
        .filter(|r| r.direction == Direction::In && r.origin == "hip")
        .filter_map(|r| match (r.inner_local?, r.inner_peer?) {
            (IpAddr::V6(l), IpAddr::V6(p)) => Some((Hit::from(l), Hit::from(p), r.spi, r.bytes)),
            _ => None,
        })
        .collect()
}

/// The SA pair of an ESTABLISHED association, replacing older SAs with the
/// same peer (a new base exchange rekeys).
fn install(table: &SaTable, e: &Established) {
    let (local_hit, peer_hit) = (IpAddr::V6(e.local_hit.to_ipv6()), IpAddr::V6(e.peer_hit.to_ipv6()));
    let sa = |spi: u32, direction: Direction, key: &[u8]| ValidSa {
        spec: SaSpec {
            spi,
            direction,
            mode: ModeName::Beet,
            transform: transform_name(e.transform).into(),
            // Keys stay binary: the spec's hex form is for config and CLI.
            key: String::new(),
            local: e.local_locator,
            peer: e.peer_locator,
            inner_local: Some(local_hit),
            inner_peer: Some(peer_hit),
            wildcard_source: false,
        },
        transform: e.transform,
        key: key.to_vec(),
        from_hip: true,
    };
    let old = table.remove_peer(peer_hit);
    match table.install_pair(
        sa(e.outbound_spi, Direction::Out, &e.outbound_key),
        sa(e.inbound_spi, Direction::In, &e.inbound_key),
    ) {
        Ok(()) => info!(
            peer = %peer_hit,
            outbound_spi = format_args!("{:#010x}", e.outbound_spi),
            inbound_spi = format_args!("{:#010x}", e.inbound_spi),
            replaced = old,
            "association established: SAs installed"
        ),
        Err(err) => warn!(peer = %peer_hit, "SAs of an established association not installed: {err}"),
    }
}
