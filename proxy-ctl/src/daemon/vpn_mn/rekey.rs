//! The mobile node's half of a rekey of its association with the gateway
//! by HIP UPDATE (RFC 7402 §6.8-§6.10, `proxy-ctl assoc rekey` on either
//! end, or an aging SA, `[esp] rekey_after_packets`): the steps the host
//! and proxy roles take for their BEET SAs (esp_hip.rs), in the same order,
//! on the VPN's tunnel-mode pair. New SPIs and keys; the care-of address,
//! the registration and the handover history stay. (A handover keeps the
//! SPIs, issue 7; only a rekey changes them.)
//!
//! - AddInbound, in the HIP event hook: the new inbound SA is in before
//!   the HIP driver sends the UPDATE that lets the gateway use it, at the
//!   association's local locator; the driver then moves it to its own
//!   care-of address, should a handover be running.
//! - SwitchOutbound, in this driver (it seals its Mobile IP messages on
//!   the outbound SA by SPI): the new outbound SA becomes the table's
//!   default tunnel SA in one write, the replaced inbound SA retires once
//!   the gateway's ESP shows on the new one.
//! - The first ESP on a rekey's new inbound SA goes to the HIP core: when
//!   the gateway started the rekey, it proves the gateway has switched, so
//!   we switch even if its ACK is lost (RFC 7402 §6.10).

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::atomic::{AtomicU32, Ordering},
};

use proxy_proto::hip::assoc::{RekeyStep, Rekeyed};
use tracing::{info, warn};

use super::{FromTunnel, Mn, keying::FromHip, keying::tunnel_sa};
use crate::{
    daemon::{esp_hip, vpn_esp},
    esp::{Direction, SaTable},
};

/// The inbound SPI whose first authentic packet the HIP core wants to
/// hear of (0: none); the receive worker checks it per packet with one
/// atomic load.
#[derive(Debug, Default)]
pub(super) struct RekeyWatch(AtomicU32);

impl RekeyWatch {
    fn watch(&self, spi: u32) {
        self.0.store(spi, Ordering::Relaxed);
    }

    /// True once, for the first packet opened on the watched SPI.
    pub(super) fn first(&self, spi: u32) -> bool {
        spi != 0
            && self.0.load(Ordering::Relaxed) == spi
            && self.0.compare_exchange(spi, 0, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

/// The steps that cannot wait for the driver (the HIP event hook runs
/// them before the UPDATE that goes with them leaves).
pub(super) fn inbound_step(table: &SaTable, watch: &RekeyWatch, gateway: Ipv4Addr, r: &Rekeyed) {
    let peer = IpAddr::V6(r.peer_hit.to_ipv6());
    match &r.step {
        RekeyStep::AddInbound { spi, key } => {
            let IpAddr::V4(care_of) = r.local_locator else {
                warn!(locator = %r.local_locator, "rekey: the association is not on IPv4: inbound SA not added");
                return;
            };
            match tunnel_sa(*spi, Direction::In, key, care_of, gateway, Some(r.peer_hit.to_ipv6())) {
                Ok(sa) => {
                    if esp_hip::add_inbound(table, peer, sa) {
                        watch.watch(*spi);
                    }
                }
                Err(e) => warn!(%peer, "rekey: inbound SA refused: {e:#}"),
            }
        }
        RekeyStep::DropInbound { spi } => esp_hip::drop_inbound(table, *spi),
        RekeyStep::SwitchOutbound { .. } => {}
    }
}

impl Mn {
    /// A rekey step reached the driver (the hook did the inbound part).
    pub(super) fn rekeyed(&mut self, r: &Rekeyed) {
        match &r.step {
            RekeyStep::AddInbound { spi, .. } => {
                self.extra_in.push(*spi);
                if let Some(h) = &mut self.hip {
                    h.local_hit = Some(r.local_hit);
                }
                // Where our SAs are now (a handover may have moved them
                // before the HIP core heard of it).
                if let Some(care_of) = self.care_of {
                    vpn_esp::move_inbound(&self.table, &[*spi], care_of, self.sec.gateway);
                }
            }
            RekeyStep::DropInbound { spi } => self.extra_in.retain(|s| s != spi),
            RekeyStep::SwitchOutbound { spi, key, old_outbound_spi, old_inbound_spi, new_inbound_spi } => {
                self.switch(r, *spi, key, *old_outbound_spi, *old_inbound_spi, *new_inbound_spi);
            }
        }
    }

    fn switch(&mut self, r: &Rekeyed, spi: u32, key: &[u8], old_out: u32, old_in: u32, new_in: u32) {
        let (Some(care_of), Some(h)) = (self.care_of, &self.hip) else { return };
        if old_out != self.spi_out {
            // Re-established meanwhile: the rekey was of SAs gone.
            warn!(old = format_args!("{old_out:#010x}"), "rekey of an outbound SA no longer in use: ignored");
            return;
        }
        let sa = match tunnel_sa(spi, Direction::Out, key, care_of, self.sec.gateway, Some(r.peer_hit.to_ipv6())) {
            Ok(sa) => sa,
            Err(e) => {
                warn!("rekey: outbound SA refused: {e:#}");
                return;
            }
        };
        let tx = h.tx.clone();
        let peer = IpAddr::V6(r.peer_hit.to_ipv6());
        let retired = move || {
            let _ = tx.send(FromHip::Retired(old_in));
        };
        if !esp_hip::switch_outbound(&self.table, peer, old_out, sa, old_in, new_in, retired) {
            return;
        }
        self.extra_in.retain(|&s| s != new_in);
        self.extra_in.push(old_in);
        (self.spi_out, self.spi_in) = (spi, new_in);
        self.c.rekeys += 1;
        self.bundle_rekeys += 1;
        info!(%care_of, spi_in = format_args!("{old_in:#010x} -> {new_in:#010x}"),
            spi_out = format_args!("{old_out:#010x} -> {spi:#010x}"), new_dh = r.new_dh,
            "VPN SAs rekeyed by HIP UPDATE");
    }

    /// The first packet on a rekey's new inbound SA: tell the HIP core.
    pub(super) fn first_esp_on(&self, spi: u32) {
        let Some(h) = &self.hip else { return };
        let Some(local) = h.local_hit else { return };
        let (handle, peer) = (h.handle.clone(), proxy_proto::hip::crypto::Hit::from(h.gateway_hit));
        tokio::spawn(async move {
            if let Err(e) = handle.esp_received_on(local, peer, spi).await {
                warn!("ESP received not passed to HIP: {e:#}");
            }
        });
    }
}

/// For the receive worker: report the watched SPI's first packet.
pub(super) fn report_first(watch: &RekeyWatch, spi: u32, tx: &crate::daemon::vpn_io::WakingSender<FromTunnel>) {
    if watch.first(spi) {
        let _ = tx.send(FromTunnel::FirstEspOn(spi));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watched_spi_is_reported_once_others_never() {
        let w = RekeyWatch::default();
        assert!(!w.first(0) && !w.first(0x1000));
        w.watch(0x1000);
        assert!(!w.first(0x2000));
        assert!(w.first(0x1000));
        assert!(!w.first(0x1000));
    }
}
