//! HIP and ESP together (RFC 7402 §4): an ESTABLISHED association installs
//! its SA pair (inner addresses the HITs, outer the locators, keys from
//! KEYMAT); a CLOSE removes it; the first ESP packet on an inbound SA moves
//! the Responder from R2-SENT to ESTABLISHED (RFC 7401 §4.4.2); a local packet to a HIT without SA starts
//! the base exchange, and the ESP worker releases the held packet as soon
//! as the SAs are in (connect time = base exchange time plus a wake-up).
//!
//! A rekey by UPDATE (RFC 7402 §6.8 - §6.10) arrives in steps: the new
//! inbound SA goes in beside the current one; the outbound SA is switched
//! in one table write; the replaced inbound SA stays until the peer's ESP
//! shows on the new one (plus a short drain for packets already in
//! flight), at most [`RETIRED_GRACE`]. The VPN's node and gateway take the
//! same steps ([`add_inbound`], [`switch_outbound`], [`drop_inbound`]) with
//! their tunnel-mode SAs.

use std::{net::IpAddr, sync::Arc, time::Duration};

use proxy_proto::hip::{
    assoc::{Established, Event, RekeyStep, Rekeyed},
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
        Event::Rekeyed(r) => rekey_step(&table, r),
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
        while let Some((local, peer, spi)) = first_esp.recv().await {
            if let (IpAddr::V6(l), IpAddr::V6(p)) = (local, peer)
                && let Err(e) = hip_first.esp_received_on(Hit::from(l), Hit::from(p), spi).await
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

/// How long a replaced inbound SA stays at most.
pub const RETIRED_GRACE: Duration = Duration::from_secs(5);
/// After the peer's first ESP on the new inbound SA: what it sent on the
/// old one before has arrived by then.
const RETIRED_DRAIN: Duration = Duration::from_millis(500);
/// How often the retirement checks the new inbound SA.
const RETIRED_POLL: Duration = Duration::from_millis(50);

/// One BEET SA of a HIP association.
#[allow(clippy::too_many_arguments)]
fn hip_sa(
    spi: u32,
    direction: Direction,
    key: &[u8],
    transform: proxy_proto::esp::Transform,
    local: IpAddr,
    peer: IpAddr,
    local_hit: IpAddr,
    peer_hit: IpAddr,
) -> ValidSa {
    ValidSa {
        spec: SaSpec {
            spi,
            direction,
            mode: ModeName::Beet,
            transform: transform_name(transform).into(),
            // Keys stay binary: the spec's hex form is for config and CLI.
            key: String::new(),
            local,
            peer,
            inner_local: Some(local_hit),
            inner_peer: Some(peer_hit),
            wildcard_source: false,
        },
        transform,
        key: key.to_vec(),
        from_hip: true,
        // The inner peer is the peer's HIT.
        hip_peer: None,
    }
}

/// The SA pair of an ESTABLISHED association, replacing older SAs with the
/// same peer (a new base exchange rekeys).
fn install(table: &SaTable, e: &Established) {
    let (local_hit, peer_hit) = (IpAddr::V6(e.local_hit.to_ipv6()), IpAddr::V6(e.peer_hit.to_ipv6()));
    let sa = |spi: u32, direction: Direction, key: &[u8]| {
        hip_sa(spi, direction, key, e.transform, e.local_locator, e.peer_locator, local_hit, peer_hit)
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

/// One step of a rekey (see the module comment), BEET SAs between the HITs.
fn rekey_step(table: &Arc<SaTable>, r: &Rekeyed) {
    let (local_hit, peer_hit) = (IpAddr::V6(r.local_hit.to_ipv6()), IpAddr::V6(r.peer_hit.to_ipv6()));
    let sa = |spi: u32, direction: Direction, key: &[u8]| {
        hip_sa(spi, direction, key, r.transform, r.local_locator, r.peer_locator, local_hit, peer_hit)
    };
    match &r.step {
        RekeyStep::AddInbound { spi, key } => {
            add_inbound(table, peer_hit, sa(*spi, Direction::In, key));
        }
        RekeyStep::SwitchOutbound { spi, key, old_outbound_spi, old_inbound_spi, new_inbound_spi } => {
            let new = sa(*spi, Direction::Out, key);
            switch_outbound(table, peer_hit, *old_outbound_spi, new, *old_inbound_spi, *new_inbound_spi, || {});
        }
        RekeyStep::DropInbound { spi } => drop_inbound(table, *spi),
    }
}

// The three table steps of a rekey, whatever the SAs look like: BEET
// between HITs here, tunnel mode for the VPN's MN <-> GW bundles
// (vpn_mn/keying.rs, vpn_gw/rekey.rs), which build their own SAs.

/// [`RekeyStep::AddInbound`]: the new inbound SA goes in beside the
/// current one (RFC 7402 §6.9.1: the peer may send on it once it has our
/// answer or ACK).
pub fn add_inbound(table: &SaTable, peer: IpAddr, sa: ValidSa) -> bool {
    let spi = sa.spec.spi;
    match table.install(sa) {
        Ok(()) => {
            info!(%peer, inbound_spi = format_args!("{spi:#010x}"), "rekey: inbound SA added");
            true
        }
        Err(e) => {
            warn!(%peer, "rekey: inbound SA not added: {e}");
            false
        }
    }
}

/// [`RekeyStep::SwitchOutbound`]: `new` replaces the outbound SA `old_out`
/// in one table write (RFC 7402 §6.10: the peer has the matching inbound
/// SA by now), and the replaced inbound SA `old_in` retires once the peer's
/// ESP shows on `new_in` ([`RETIRED_GRACE`] at most); `retired` runs after
/// it is gone. False if the switch failed.
pub fn switch_outbound(
    table: &Arc<SaTable>,
    peer: IpAddr,
    old_out: u32,
    new: ValidSa,
    old_in: u32,
    new_in: u32,
    retired: impl FnOnce() + Send + 'static,
) -> bool {
    let spi = new.spec.spi;
    let ok = match table.switch_outbound(old_out, new) {
        Ok(()) => {
            info!(%peer, outbound_spi = format_args!("{old_out:#010x} -> {spi:#010x}"), "rekey: outbound SA switched");
            true
        }
        Err(e) => {
            warn!(%peer, "rekey: outbound SA not switched: {e}");
            false
        }
    };
    retire(table.clone(), peer, old_in, new_in, retired);
    ok
}

/// [`RekeyStep::DropInbound`]: an answered rekey that never completed.
pub fn drop_inbound(table: &SaTable, spi: u32) {
    if table.remove(Direction::In, spi).is_ok() {
        info!(spi = format_args!("{spi:#010x}"), "rekey: unused inbound SA removed");
    }
}

/// Remove the replaced inbound SA `old` once the peer's ESP shows on `new`
/// (and a drain after it), or after [`RETIRED_GRACE`] in any case.
fn retire(table: Arc<SaTable>, peer: IpAddr, old: u32, new: u32, retired: impl FnOnce() + Send + 'static) {
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        while start.elapsed() < RETIRED_GRACE && table.inbound_packets(new) == Some(0) {
            tokio::time::sleep(RETIRED_POLL).await;
        }
        let left = RETIRED_GRACE.saturating_sub(start.elapsed());
        tokio::time::sleep(RETIRED_DRAIN.min(left)).await;
        // Gone already (CLOSE, a new base exchange): fine.
        if table.remove(Direction::In, old).is_ok() {
            info!(%peer, spi = format_args!("{old:#010x}"), "rekey: replaced inbound SA removed");
        }
        retired();
    });
}
