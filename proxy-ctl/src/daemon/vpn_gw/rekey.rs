//! The gateway's half of a rekey of an MN's association by HIP UPDATE
//! (RFC 7402 §6.8-§6.10; `proxy-ctl assoc rekey` on either end, or an
//! aging SA, `[esp] rekey_after_packets`): the steps the host and proxy
//! roles take for their BEET SAs (esp_hip.rs), in the same order, on the
//! bundle's tunnel-mode SAs. New SPIs and keys; the bundle stays: its
//! care-of address, the inbound SA's wildcard source and its limits, a
//! return-routability check under way and the outbound SA's credit, the
//! handover history. (A handover keeps the SPIs, issue 7; only a rekey
//! changes them.)
//!
//! - AddInbound (bundles.rs, in the HIP driver's hook, before the UPDATE
//!   that lets the MN use it): the new inbound SA with the wildcard
//!   source, at the bundle's care-of address, and a policy entry sharing
//!   the bundle's handover state; the core learns the SPI here.
//! - SwitchOutbound (here, in the driver, so that the core's actions and
//!   the table name the same outbound SA): the new outbound SA replaces
//!   the old one in one table write (credit included), the core takes the
//!   new SPIs, and the replaced inbound SA retires once the MN's ESP shows
//!   on the new one.
//! - The first ESP on the new inbound SA goes to the HIP core (the hook's
//!   per-SPI first-ESP signal): proof that the MN switched, if its ACK is
//!   lost (RFC 7402 §6.10).

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, atomic::AtomicBool},
};

use proxy_proto::hip::assoc::{RekeyStep, Rekeyed};
use tracing::{info, warn};

use super::{FromTunnel, Gw, Policy};
use crate::{
    daemon::{esp_hip, vpn_esp},
    esp::Direction,
};

/// What the hook (or a retirement) tells the driver of a rekey.
pub(super) enum RekeyNote {
    /// The hook added this inbound SA for `home`'s bundle.
    AddedInbound { home: Ipv4Addr, spi: u32 },
    /// The switch: the driver's step.
    Switch { home: Ipv4Addr, rekey: Box<Rekeyed> },
    /// An inbound SA beside the pair is gone (retired after the switch,
    /// or a rekey the HIP core gave up).
    Gone { home: Ipv4Addr, spi: u32 },
}

impl Policy {
    /// The policy of a rekey's new inbound SA: the same bundle (care-of
    /// address and handover state shared with the current SA's), its own
    /// first-ESP signal.
    pub(super) fn for_new_spi(&self) -> Policy {
        Policy {
            home: self.home,
            care_of: Arc::clone(&self.care_of),
            pending_source: Arc::clone(&self.pending_source),
            hits: self.hits,
            esp_seen: AtomicBool::new(false),
        }
    }
}

impl Gw {
    pub(super) fn on_rekey(&mut self, note: RekeyNote) {
        match note {
            RekeyNote::AddedInbound { home, spi } => {
                self.core.add_inbound_spi(home, spi);
            }
            RekeyNote::Gone { home, spi } => {
                self.inst.remove_inbound(home, spi);
                self.core.remove_inbound_spi(spi);
            }
            RekeyNote::Switch { home, rekey } => {
                let RekeyStep::SwitchOutbound { spi, key, old_outbound_spi, old_inbound_spi, new_inbound_spi } =
                    &rekey.step
                else {
                    return;
                };
                self.switch(home, &rekey, *spi, key, *old_outbound_spi, *old_inbound_spi, *new_inbound_spi);
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // the SwitchOutbound step's fields
    fn switch(&mut self, home: Ipv4Addr, r: &Rekeyed, spi: u32, key: &[u8], old_out: u32, old_in: u32, new_in: u32) {
        if !self.bundles.get(&home).is_some_and(|b| !b.closed && b.spi_out == old_out) {
            // Re-established or closed meanwhile: the rekey was of SAs gone.
            warn!(%home, old = format_args!("{old_out:#010x}"), "rekey of an outbound SA no longer in use: ignored");
            return;
        }
        let Some(care_of) = self.core.bundle(home).map(|s| s.care_of_address) else { return };
        let hip_peer = r.peer_hit.to_ipv6();
        let sa = match self.inst.sa(spi, Direction::Out, key, home, care_of, Some(hip_peer)) {
            Ok(sa) => sa,
            Err(e) => {
                warn!(%home, "rekey: outbound SA refused: {e:#}");
                return;
            }
        };
        let tx = self.hook.tx.clone();
        let retired = move || {
            let _ = tx.send(FromTunnel::Rekey(RekeyNote::Gone { home, spi: old_in }));
        };
        if !esp_hip::switch_outbound(&self.table, IpAddr::V6(hip_peer), old_out, sa, old_in, new_in, retired) {
            return;
        }
        self.inst.switched(home, spi, new_in, old_in);
        self.core.rekey_bundle(home, new_in, spi);
        if let Some(b) = self.bundles.get_mut(&home) {
            (b.spi_out, b.spi_in) = (spi, new_in);
            b.rekeys += 1;
        }
        self.by_spi_out.remove(&old_out);
        self.by_spi_out.insert(spi, home);
        self.c.rekeys += 1;
        info!(%home, %care_of, spi_in = format_args!("{old_in:#010x} -> {new_in:#010x}"),
            spi_out = format_args!("{old_out:#010x} -> {spi:#010x}"), new_dh = r.new_dh,
            "VPN SAs rekeyed by HIP UPDATE");
    }

    /// The inbound SAs beside `home`'s pair follow a move of the pair.
    pub(super) fn move_rekey_inbound(&self, home: Ipv4Addr, care_of: Ipv4Addr) {
        vpn_esp::move_inbound(&self.table, &self.inst.extra_in(home), self.sec.public, care_of);
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        net::{Ipv6Addr, SocketAddrV4},
        sync::{Mutex, atomic::Ordering},
    };

    use proxy_proto::hip::{
        assoc::{Established, Event},
        crypto::Hit,
    };
    use proxy_proto::vpn::udp;

    use super::*;
    use crate::{
        daemon::vpn_gw::bundles::{Installer, hip_hook},
        esp::{
            SaTable,
            tunnel_hook::{Arrival, TunnelHook, Verdict},
        },
        vpn::config::TRANSFORM,
    };

    const HOME: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 5);
    const COA_A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 23);
    const COA_B: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 23);
    const PUBLIC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn hit(s: &str) -> Hit {
        Hit::from(s.parse::<Ipv6Addr>().unwrap())
    }

    fn rekeyed(mn: Hit, step: RekeyStep) -> Event {
        Event::Rekeyed(Box::new(Rekeyed {
            local_hit: hit("2001:2a::1"),
            peer_hit: mn,
            local_locator: PUBLIC.into(),
            peer_locator: COA_A.into(),
            transform: TRANSFORM,
            new_dh: true,
            step,
        }))
    }

    fn arrival(spi: u32) -> Arrival {
        Arrival { spi, src: COA_B.into(), dst: Some(PUBLIC.into()), local: PUBLIC.into(), peer: COA_B.into() }
    }

    #[test]
    fn a_rekeys_inbound_sa_joins_the_bundle_with_its_wildcard_and_shared_policy() {
        let (h, mut rx) = crate::daemon::vpn_gw::tests::bare_hook();
        let h = Arc::new(h);
        let table = Arc::new(SaTable::new(None));
        let inst =
            Arc::new(Installer { table: table.clone(), hook: h.clone(), public: PUBLIC, pairs: Mutex::default() });
        let mn = hit("2001:2a::5");
        let hook = hip_hook(inst.clone(), HashMap::from([(mn, HOME)]));
        hook(&Event::Established(Box::new(Established {
            local_hit: hit("2001:2a::1"),
            peer_hit: mn,
            local_locator: PUBLIC.into(),
            peer_locator: COA_A.into(),
            initiator: false,
            transform: TRANSFORM,
            inbound_spi: 0x1000,
            outbound_spi: 0x2000,
            inbound_key: vec![1u8; 20].into(),
            outbound_key: vec![2u8; 20].into(),
        })));
        assert!(rx.try_recv().is_ok());
        // The new inbound SA, before the UPDATE that lets the MN use it.
        hook(&rekeyed(mn, RekeyStep::AddInbound { spi: 0x1001, key: vec![3u8; 20].into() }));
        let sa = table.list(false).into_iter().find(|s| s.spi == 0x1001).expect("new inbound SA");
        assert!(
            sa.wildcard_source
                && sa.origin == "hip"
                && sa.peer == IpAddr::from(COA_A)
                && sa.inner_peer == Some(IpAddr::from(HOME))
        );
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::Rekey(RekeyNote::AddedInbound { home: HOME, spi: 0x1001 }))));
        // One bundle behind both SPIs: a handover's state is shared ...
        h.update(0x1000, |p| p.care_of.store(COA_B.into(), Ordering::Relaxed));
        assert_eq!(h.policy(0x1001).unwrap().care_of, COA_B);
        // ... the first-ESP signal (the MN switched) is the new SPI's own.
        let data = udp::build(SocketAddrV4::new(HOME, 5000), SocketAddrV4::new(PUBLIC, 5000), 64, b"x").unwrap();
        assert_eq!(h.opened(&arrival(0x1001), &data), Verdict::Deliver(0..data.len()));
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::FirstEsp { spi: 0x1001, .. })));
        // A rekey the HIP core gave up: its inbound SA and policy go.
        hook(&rekeyed(mn, RekeyStep::DropInbound { spi: 0x1001 }));
        assert!(table.inbound_packets(0x1001).is_none() && h.policy(0x1001).is_none());
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::Rekey(RekeyNote::Gone { spi: 0x1001, .. }))));
        // The switch is the driver's.
        let switch = RekeyStep::SwitchOutbound {
            spi: 0x2002,
            new_inbound_spi: 0x1002,
            key: vec![4u8; 20].into(),
            old_outbound_spi: 0x2000,
            old_inbound_spi: 0x1000,
        };
        hook(&rekeyed(mn, RekeyStep::AddInbound { spi: 0x1002, key: vec![3u8; 20].into() }));
        hook(&rekeyed(mn, switch));
        assert!(rx.try_recv().is_ok());
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::Rekey(RekeyNote::Switch { home: HOME, .. }))));
        assert_eq!(table.list(false).len(), 3, "the switch waits for the driver");
        // A CLOSE takes the rekey's inbound SA with the pair.
        hook(&Event::Closed { local_hit: hit("2001:2a::1"), peer_hit: mn, inbound_spi: 0x1000 });
        assert!(table.list(false).is_empty());
        assert!(h.policy(0x1002).is_none());
    }
}
