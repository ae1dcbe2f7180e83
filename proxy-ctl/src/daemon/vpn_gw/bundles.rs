//! The gateway's SA bundles, datapath half: a pair in the SA table plus
//! the receive hook's policy, installed from the static config or by the
//! HIP driver's event hook when an admitted mobile node's base exchange
//! reaches ESTABLISHED (before the R2 leaves, so the MN's first ESP finds
//! them), and removed when its association closes. A rekey's inbound
//! steps happen here too, in the hook (rekey.rs has the rest).

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
};

use anyhow::Context;
use proxy_proto::hip::{
    assoc::{Event, RekeyStep, Rekeyed},
    crypto::Hit,
};
use tracing::warn;

use super::{FromTunnel, GwHook, Policy, rekey::RekeyNote};
use crate::{
    daemon::{
        hip::EventHook,
        vpn_esp::{self, TunnelSa},
    },
    esp::{Direction, SaTable},
    vpn::config::TRANSFORM,
};

/// The datapath half of a bundle: its SAs in the table and its policy in
/// the hook. The HIP driver's event hook calls it too, before its R2
/// leaves, so the MN's first ESP finds both.
pub(super) struct Installer {
    pub(super) table: Arc<SaTable>,
    pub(super) hook: Arc<GwHook>,
    pub(super) public: Ipv4Addr,
    /// Home address -> the installed pair.
    pub(super) pairs: Mutex<HashMap<Ipv4Addr, Pair>>,
}

/// A bundle's SAs in the table.
#[derive(Debug, Clone, Default)]
pub(super) struct Pair {
    pub(super) out: u32,
    pub(super) inb: u32,
    /// Inbound SAs a rekey keeps beside the pair (the new one until the
    /// switch, the replaced one until it retires), each with its policy.
    pub(super) extra_in: Vec<u32>,
}

impl Installer {
    /// Installs (or replaces) the pair of `home`, `(SPI, KEYMAT)` per
    /// direction; `hits` for a HIP-keyed one.
    pub(super) fn install(
        &self,
        home: Ipv4Addr,
        care_of: Ipv4Addr,
        out: (u32, &[u8]),
        inb: (u32, &[u8]),
        hits: Option<(Hit, Hit)>,
    ) -> anyhow::Result<()> {
        let hip_peer = hits.map(|(_, peer)| peer.to_ipv6());
        let sa = |(spi, key), direction| self.sa(spi, direction, key, home, care_of, hip_peer);
        // Check the new pair before the old one goes.
        let (o, i) = (sa(out, Direction::Out)?, sa(inb, Direction::In)?);
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = pairs.remove(&home) {
            self.remove_sas(&old);
        }
        self.table.install_pair(o, i).context("installing the VPN SA pair")?;
        self.hook.policy.write().unwrap_or_else(|e| e.into_inner()).insert(inb.0, Policy::new(home, care_of, hits));
        pairs.insert(home, Pair { out: out.0, inb: inb.0, extra_in: Vec::new() });
        Ok(())
    }

    /// One SA of `home`'s bundle: outbound selects the home address, the
    /// inbound one takes any outer source (the hook limits it).
    pub(super) fn sa(
        &self,
        spi: u32,
        direction: Direction,
        key: &[u8],
        home: Ipv4Addr,
        care_of: Ipv4Addr,
        hip_peer: Option<std::net::Ipv6Addr>,
    ) -> anyhow::Result<crate::esp::ValidSa> {
        TunnelSa {
            spi,
            direction,
            key,
            local: self.public,
            peer: care_of,
            inner_peer: Some(home),
            wildcard_source: direction == Direction::In,
            hip_peer,
        }
        .valid()
    }

    /// A pair's SAs and policies, a rekey's included.
    fn remove_sas(&self, p: &Pair) {
        vpn_esp::remove_pair(&self.table, p.out, p.inb);
        vpn_esp::remove_inbound(&self.table, &p.extra_in);
        let mut policy = self.hook.policy.write().unwrap_or_else(|e| e.into_inner());
        for spi in p.extra_in.iter().chain([&p.inb]) {
            policy.remove(spi);
        }
    }

    /// A rekey's new inbound SA for `home` (RFC 7402 §6.9), in the HIP
    /// driver's hook before the UPDATE that lets the MN use it: beside the
    /// current one, at the bundle's current care-of address, with the
    /// bundle's policy (its care-of address and handover state are shared,
    /// the first-ESP signal is its own).
    fn add_inbound(&self, home: Ipv4Addr, spi: u32, key: &[u8], hip_peer: std::net::Ipv6Addr) -> anyhow::Result<()> {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        let pair = pairs.get_mut(&home).context("no bundle")?;
        let p = self
            .hook
            .policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pair.inb)
            .map(Policy::for_new_spi)
            .context("no policy for the bundle")?;
        let care_of = p.now().care_of;
        let sa = self.sa(spi, Direction::In, key, home, care_of, Some(hip_peer))?;
        if !crate::daemon::esp_hip::add_inbound(&self.table, std::net::IpAddr::V6(hip_peer), sa) {
            anyhow::bail!("not installed");
        }
        self.hook.policy.write().unwrap_or_else(|e| e.into_inner()).insert(spi, p);
        pair.extra_in.push(spi);
        Ok(())
    }

    /// An inbound SA of `home`'s bundle besides the pair is gone (retired,
    /// or dropped by the HIP core): its SA (if still there) and policy go.
    pub(super) fn remove_inbound(&self, home: Ipv4Addr, spi: u32) {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pair) = pairs.get_mut(&home).filter(|p| p.extra_in.contains(&spi)) else { return };
        pair.extra_in.retain(|&s| s != spi);
        let _ = self.table.remove(Direction::In, spi);
        self.hook.policy.write().unwrap_or_else(|e| e.into_inner()).remove(&spi);
    }

    /// The rekey switched `home`'s bundle to (`out`, `inb`): the replaced
    /// inbound SA `old_in` stays beside it until it retires.
    pub(super) fn switched(&self, home: Ipv4Addr, out: u32, inb: u32, old_in: u32) {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pair) = pairs.get_mut(&home) {
            pair.extra_in.retain(|&s| s != inb);
            pair.extra_in.push(old_in);
            (pair.out, pair.inb) = (out, inb);
        }
    }

    /// The inbound SAs beside `home`'s pair (they move with it).
    pub(super) fn extra_in(&self, home: Ipv4Addr) -> Vec<u32> {
        let pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        pairs.get(&home).map(|p| p.extra_in.clone()).unwrap_or_default()
    }

    /// Removes the pair of `home` if its inbound SPI is `spi_in`.
    fn remove(&self, home: Ipv4Addr, spi_in: u32) -> bool {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        match pairs.get(&home) {
            Some(p) if p.inb == spi_in => {
                if let Some(p) = pairs.remove(&home) {
                    self.remove_sas(&p);
                }
                true
            }
            _ => false,
        }
    }
}

/// The HIP driver's event hook: an admitted MN's Established installs its
/// pair at once (the R2 follows), its Closed removes it.
pub(super) fn hip_hook(inst: Arc<Installer>, admitted: HashMap<Hit, Ipv4Addr>) -> EventHook {
    Arc::new(move |ev: &Event| match ev {
        Event::Established(e) => {
            // The HIP core answers only admitted HITs (allowed peers).
            let Some(&home) = admitted.get(&e.peer_hit) else { return };
            let IpAddr::V4(care_of) = e.peer_locator else {
                warn!(%home, locator = %e.peer_locator, "mobile node on IPv6: the VPN runs over IPv4; SAs not installed");
                return;
            };
            if e.transform != TRANSFORM {
                warn!(%home, transform = ?e.transform, "unexpected ESP transform: SAs not installed");
                return;
            }
            let hits = Some((e.local_hit, e.peer_hit));
            match inst.install(home, care_of, (e.outbound_spi, &e.outbound_key), (e.inbound_spi, &e.inbound_key), hits)
            {
                Ok(()) => {
                    let (spi_in, spi_out) = (e.inbound_spi, e.outbound_spi);
                    let _ = inst.hook.tx.send(FromTunnel::Established { home, care_of, spi_in, spi_out });
                }
                Err(err) => warn!(%home, "SAs from the base exchange not installed: {err:#}"),
            }
        }
        Event::Closed { peer_hit, inbound_spi, .. } => {
            if let Some(&home) = admitted.get(peer_hit)
                && inst.remove(home, *inbound_spi)
            {
                let _ = inst.hook.tx.send(FromTunnel::Closed { home });
            }
        }
        Event::Rekeyed(r) => {
            if let Some(&home) = admitted.get(&r.peer_hit) {
                rekey_step(&inst, home, r);
            }
        }
        _ => {}
    })
}

/// A rekey step of an admitted MN's association: the inbound ones here
/// (before the UPDATE that goes with them), the switch in the driver.
fn rekey_step(inst: &Installer, home: Ipv4Addr, r: &Rekeyed) {
    let note = match &r.step {
        RekeyStep::AddInbound { spi, key } => match inst.add_inbound(home, *spi, key, r.peer_hit.to_ipv6()) {
            Ok(()) => RekeyNote::AddedInbound { home, spi: *spi },
            Err(e) => {
                warn!(%home, spi = format_args!("{spi:#010x}"), "rekey: inbound SA not added: {e:#}");
                return;
            }
        },
        RekeyStep::DropInbound { spi } => {
            inst.remove_inbound(home, *spi);
            RekeyNote::Gone { home, spi: *spi }
        }
        RekeyStep::SwitchOutbound { .. } => RekeyNote::Switch { home, rekey: Box::new(r.clone()) },
    };
    let _ = inst.hook.tx.send(FromTunnel::Rekey(note));
}
