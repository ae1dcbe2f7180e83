//! How the mobile node gets its SAs: a HIP base exchange with the
//! gateway's HIT (the MN is the Initiator, from its current care-of address
//! to the gateway's public locator), whose `Established` event (SPIs and
//! KEYMAT, RFC 7402 §7, as for BEET) becomes a tunnel-mode pair; the same
//! for the fallback re-establishment. Static SAs when no HIT is configured.
//! A rekey of that association by UPDATE (`assoc rekey`, or an aging SA)
//! replaces the pair step by step: rekey.rs.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket},
    sync::Arc,
    time::Instant,
};

use anyhow::Context;
use proxy_proto::hip::{
    assoc::{Established, Event, Rekeyed},
    crypto::Hit,
};
use tracing::{debug, info, warn};

use super::{Mn, REESTABLISH_RETRY, rekey::RekeyWatch};
use crate::{
    daemon::{
        hip::HipHandle,
        vpn_esp::{self, TunnelSa},
        vpn_io::{WakingSender, now_ntp},
    },
    esp::{Direction, SaTable},
    vpn::config::{StaticPair, TRANSFORM},
};

/// What the HIP event hook hands this driver.
pub(super) enum FromHip {
    Established(Box<Established>),
    /// The gateway closed the association (CLOSE, RFC 7401 §5.3.6).
    Closed,
    /// A base exchange this driver started failed (`attempt` numbers it).
    Failed {
        attempt: u64,
        error: String,
    },
    /// A step of a rekey by UPDATE (RFC 7402 §6.9-§6.10); the hook has
    /// already added (or dropped) the inbound SA of it.
    Rekeyed(Box<Rekeyed>),
    /// The inbound SA a rekey replaced has retired.
    Retired(u32),
}

/// The base exchange with the gateway, in progress (first establishment or
/// re-establishment).
pub(super) struct Establishing {
    pub(super) care_of: Ipv4Addr,
    pub(super) attempt: u64,
    /// No route to the gateway from `care_of` yet: start on the next route
    /// event (a new address comes up before its default route).
    pub(super) waiting_route: bool,
    /// After a failure: try again at.
    pub(super) next_retry: Option<Instant>,
}

/// The HIP side of the MN: the gateway's identity and the driver handle.
pub(super) struct MnHip {
    pub(super) handle: HipHandle,
    pub(super) gateway_hit: Ipv6Addr,
    /// Ours, from the association (for the first-ESP report of a rekey).
    pub(super) local_hit: Option<Hit>,
    pub(super) tx: WakingSender<FromHip>,
}

/// Called by the HIP driver for every event: the gateway's come here (the
/// SAs are installed by this driver before it registers, so no ESP can
/// arrive first). A rekey's new inbound SA goes in here, before the HIP
/// driver sends the UPDATE that lets the gateway use it (rekey.rs).
pub(super) fn hip_hook(
    gateway: Hit,
    gateway_addr: Ipv4Addr,
    table: Arc<SaTable>,
    watch: Arc<RekeyWatch>,
    tx: WakingSender<FromHip>,
) -> crate::daemon::hip::EventHook {
    Arc::new(move |ev: &Event| {
        let m = match ev {
            Event::Established(e) if e.peer_hit == gateway => FromHip::Established(e.clone()),
            Event::Closed { peer_hit, .. } if *peer_hit == gateway => FromHip::Closed,
            Event::Rekeyed(r) if r.peer_hit == gateway => {
                super::rekey::inbound_step(&table, &watch, gateway_addr, r);
                FromHip::Rekeyed(r.clone())
            }
            _ => return,
        };
        let _ = tx.send(m);
    })
}

pub(super) fn install_static(
    table: &SaTable,
    p: &StaticPair,
    care_of: Ipv4Addr,
    gateway: Ipv4Addr,
) -> anyhow::Result<()> {
    install(table, (p.spi_out, &p.key_out), (p.spi_in, &p.key_in), care_of, gateway, None)
}

/// The MN's pair: outbound = the table's default tunnel SA, inbound at the
/// care-of address; `(SPI, KEYMAT)` per direction.
fn install(
    table: &SaTable,
    out: (u32, &[u8]),
    inb: (u32, &[u8]),
    care_of: Ipv4Addr,
    gateway: Ipv4Addr,
    hip_peer: Option<Ipv6Addr>,
) -> anyhow::Result<()> {
    let sa = |(spi, key): (u32, &[u8]), direction| tunnel_sa(spi, direction, key, care_of, gateway, hip_peer);
    table.install_pair(sa(out, Direction::Out)?, sa(inb, Direction::In)?).context("installing the VPN SA pair")
}

/// One SA of the MN's pair: outbound = the table's default tunnel SA (no
/// inner selector), inbound at the care-of address.
pub(super) fn tunnel_sa(
    spi: u32,
    direction: Direction,
    key: &[u8],
    care_of: Ipv4Addr,
    gateway: Ipv4Addr,
    hip_peer: Option<Ipv6Addr>,
) -> anyhow::Result<crate::esp::ValidSa> {
    TunnelSa { spi, direction, key, local: care_of, peer: gateway, inner_peer: None, wildcard_source: false, hip_peer }
        .valid()
}

/// Whether `local` has a route to `dst` now (a connected UDP socket sends
/// nothing).
fn has_route(local: Ipv4Addr, dst: Ipv4Addr) -> bool {
    UdpSocket::bind((local, 0)).and_then(|s| s.connect((dst, 9))).is_ok()
}

impl Mn {
    /// Seed 004 step 6: the VPN from scratch, with new SAs.
    pub(super) fn reestablish(&mut self, care_of: Ipv4Addr) {
        self.care_of = Some(care_of);
        if self.hip.is_none() {
            // Static SAs have nothing to renegotiate: register again (the
            // SAs already follow the care-of address).
            warn!(%care_of, "static SAs: nothing to re-establish, registering again");
            self.move_sas(care_of);
            self.core.register(Instant::now(), now_ntp(), care_of);
            self.drain();
            return;
        }
        self.c.reestablishments += 1;
        self.establish(care_of);
    }

    /// A base exchange with the gateway from `care_of` (replacing any
    /// running one).
    pub(super) fn establish(&mut self, care_of: Ipv4Addr) {
        self.attempts += 1;
        self.establishing =
            Some(Establishing { care_of, attempt: self.attempts, waiting_route: false, next_retry: None });
        self.base_exchange();
    }

    pub(super) fn base_exchange(&mut self) {
        let (Some(e), Some(h)) = (&mut self.establishing, &self.hip) else { return };
        e.next_retry = None;
        if !has_route(e.care_of, self.sec.gateway) {
            debug!(care_of = %e.care_of, "no route to the gateway yet: base exchange on the next route event");
            e.waiting_route = true;
            return;
        }
        e.waiting_route = false;
        self.c.base_exchanges += 1;
        let (handle, hit, tx, attempt) = (h.handle.clone(), h.gateway_hit, h.tx.clone(), e.attempt);
        let (local, gw) = (IpAddr::V4(e.care_of), IpAddr::V4(self.sec.gateway));
        info!(care_of = %e.care_of, gateway = %hit, "HIP base exchange with the gateway");
        debug!(target: "handover", step = "mn_bex_started", "base exchange started");
        tokio::spawn(async move {
            // The old association's path is gone: no CLOSE, start over
            // (the gateway accepts a new I2 in ESTABLISHED, RFC 7401 §4.4.2).
            if let Err(e) = handle.forget(hit).await {
                debug!("forgetting the old association: {e:#}");
            }
            if let Err(e) = handle.initiate_from(hit, local, gw).await {
                let _ = tx.send(FromHip::Failed { attempt, error: format!("{e:#}") });
            }
        });
    }

    pub(super) fn retry_base_exchange(&mut self, now: Instant) {
        if self.establishing.as_ref().and_then(|e| e.next_retry).is_some_and(|t| t <= now) {
            self.base_exchange();
        }
    }

    pub(super) fn on_hip(&mut self, m: FromHip) {
        match m {
            FromHip::Established(e) => self.established(&e),
            FromHip::Closed => {
                warn!("the gateway closed the HIP association: re-establishing");
                self.remove_sas();
                if let Some(c) = self.care_of {
                    self.reestablish(c);
                }
            }
            FromHip::Failed { attempt, error } => {
                let Some(e) = &mut self.establishing else { return };
                if e.attempt != attempt {
                    return;
                }
                self.c.base_exchange_failures += 1;
                warn!(care_of = %e.care_of, "base exchange with the gateway failed: {error}; again in {REESTABLISH_RETRY:?}");
                e.next_retry = Some(Instant::now() + REESTABLISH_RETRY);
            }
            FromHip::Rekeyed(r) => self.rekeyed(&r),
            FromHip::Retired(spi) => self.extra_in.retain(|&s| s != spi),
        }
    }

    /// The pair and any inbound SA a rekey left beside it.
    pub(super) fn remove_sas(&mut self) {
        vpn_esp::remove_pair(&self.table, self.spi_out, self.spi_in);
        vpn_esp::remove_inbound(&self.table, &std::mem::take(&mut self.extra_in));
        (self.spi_out, self.spi_in) = (0, 0);
    }

    /// ESTABLISHED with the gateway: the new tunnel-mode pair replaces the
    /// old one, then the MN registers through it.
    fn established(&mut self, e: &Established) {
        let care_of = self.establishing.take().map(|r| r.care_of).or(self.care_of);
        let (Some(care_of), IpAddr::V4(gw)) = (care_of, e.peer_locator) else {
            warn!(peer = %e.peer_locator, "association with the gateway on an unusable path: SAs not installed");
            return;
        };
        if e.transform != TRANSFORM {
            warn!(transform = ?e.transform, "the gateway chose another ESP transform: SAs not installed");
            return;
        }
        let first = self.spi_out == 0;
        self.remove_sas();
        if let Some(h) = &mut self.hip {
            h.local_hit = Some(e.local_hit);
        }
        let hip_peer = Some(e.peer_hit.to_ipv6());
        let (out, inb) = ((e.outbound_spi, &e.outbound_key[..]), (e.inbound_spi, &e.inbound_key[..]));
        if let Err(err) = install(&self.table, out, inb, care_of, gw, hip_peer) {
            warn!("SAs from the base exchange not installed: {err:#}");
            return;
        }
        (self.spi_out, self.spi_in) = (e.outbound_spi, e.inbound_spi);
        self.bundle_rekeys = 0;
        if !first {
            self.generation += 1;
        }
        debug!(target: "handover", step = "mn_sas_installed", "SAs from the base exchange installed");
        info!(%care_of, spi_in = format_args!("{:#010x}", e.inbound_spi),
            spi_out = format_args!("{:#010x}", e.outbound_spi), "VPN SAs from the HIP base exchange installed");
        self.mark(|h, ms| {
            h.inbound_spi = e.inbound_spi;
            h.outbound_spi = e.outbound_spi;
            h.sas_updated_ms = Some(ms);
        });
        self.care_of = Some(care_of);
        self.core.register(Instant::now(), now_ntp(), care_of);
        self.drain();
    }
}
