//! The gateway's SA bundles, datapath half: a pair in the SA table plus
//! the receive hook's policy, installed from the static config or by the
//! HIP driver's event hook when an admitted mobile node's base exchange
//! reaches ESTABLISHED (before the R2 leaves, so the MN's first ESP finds
//! them), and removed when its association closes.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
};

use anyhow::Context;
use proxy_proto::hip::{assoc::Event, crypto::Hit};
use tracing::warn;

use super::{FromTunnel, GwHook, Policy};
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
    /// Home address -> (outbound SPI, inbound SPI) of the installed pair.
    pub(super) pairs: Mutex<HashMap<Ipv4Addr, (u32, u32)>>,
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
        let sa = |(spi, key): (u32, &[u8]), direction, wildcard_source| {
            TunnelSa {
                spi,
                direction,
                key,
                local: self.public,
                peer: care_of,
                inner_peer: Some(home),
                wildcard_source,
                from_hip: hits.is_some(),
            }
            .valid()
        };
        // Check the new pair before the old one goes.
        let (o, i) = (sa(out, Direction::Out, false)?, sa(inb, Direction::In, true)?);
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((spi_out, spi_in)) = pairs.remove(&home) {
            vpn_esp::remove_pair(&self.table, spi_out, spi_in);
            self.hook.policy.write().unwrap_or_else(|e| e.into_inner()).remove(&spi_in);
        }
        self.table.install_pair(o, i).context("installing the VPN SA pair")?;
        self.hook.policy.write().unwrap_or_else(|e| e.into_inner()).insert(inb.0, Policy::new(home, care_of, hits));
        pairs.insert(home, (out.0, inb.0));
        Ok(())
    }

    /// Removes the pair of `home` if its inbound SPI is `spi_in`.
    fn remove(&self, home: Ipv4Addr, spi_in: u32) -> bool {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        match pairs.get(&home) {
            Some(&(spi_out, i)) if i == spi_in => {
                pairs.remove(&home);
                vpn_esp::remove_pair(&self.table, spi_out, spi_in);
                self.hook.policy.write().unwrap_or_else(|e| e.into_inner()).remove(&spi_in);
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
        _ => {}
    })
}
