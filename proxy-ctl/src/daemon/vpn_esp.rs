//! The mobile VPN's node and gateway on the ESP engine (issue 5): their
//! MN <-> GW SAs live in the daemon's `SaTable` (so `proxy-ctl sa list`
//! shows them with their current care-of addresses), packets go through
//! the host data path (TUN, raw ESP sockets, batches), and a handover is
//! `SaTable::move_outer`: same SPIs, same keys, sequence numbers and replay
//! windows carry on. What the roles decide per packet is their
//! `TunnelHook` (vpn_mn.rs, vpn_gw.rs). The SAs come from a HIP base
//! exchange between MN and GW (the `Established` event's SPIs and KEYMAT,
//! RFC 7402 §7, as for BEET) or from the static config. A rekey of that
//! association by HIP UPDATE replaces the pair with new SPIs and keys, the
//! inbound SA first (vpn_mn/rekey.rs, vpn_gw/rekey.rs); a handover never
//! does.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use anyhow::Context;

use crate::{
    esp::{
        Direction, ModeName, SaSpec, SaTable, ValidSa,
        host::{HostOptions, HostPath, XskOptions},
        spec::transform_name,
        tunnel_hook::TunnelHook,
    },
    vpn::config::TRANSFORM,
};

/// One tunnel-mode SA direction of a VPN bundle, checked like `sa add`.
pub struct TunnelSa<'a> {
    pub spi: u32,
    pub direction: Direction,
    /// KEYMAT (for AES-128-GCM: key and salt, RFC 4106 §8.1).
    pub key: &'a [u8],
    pub local: Ipv4Addr,
    pub peer: Ipv4Addr,
    /// The mobile node's home address (the gateway's selector), if any.
    pub inner_peer: Option<Ipv4Addr>,
    /// Inbound at the gateway: any outer source (limited by the hook).
    pub wildcard_source: bool,
    /// Keyed by a HIP association with this peer HIT (RFC 7402 §7
    /// KEYMAT), not configured: an aging SA is rekeyed by UPDATE with it.
    pub hip_peer: Option<Ipv6Addr>,
}

impl TunnelSa<'_> {
    pub fn valid(&self) -> anyhow::Result<ValidSa> {
        let mut v = SaSpec {
            spi: self.spi,
            direction: self.direction,
            mode: ModeName::Tunnel,
            transform: transform_name(TRANSFORM).into(),
            key: hex::encode(self.key),
            local: IpAddr::V4(self.local),
            peer: IpAddr::V4(self.peer),
            inner_local: None,
            inner_peer: self.inner_peer.map(IpAddr::V4),
            wildcard_source: self.wildcard_source,
        }
        .validate()
        .map_err(anyhow::Error::msg)?;
        if let Some(hit) = self.hip_peer {
            // Keys stay binary: the spec's hex form is for config and CLI.
            v.spec.key = String::new();
            v.from_hip = true;
            v.hip_peer = Some(IpAddr::V6(hit));
        }
        Ok(v)
    }
}

/// Remove a bundle's two SAs (re-establishment replaces them); missing
/// ones are fine.
pub fn remove_pair(table: &SaTable, spi_out: u32, spi_in: u32) {
    let _ = table.remove(Direction::Out, spi_out);
    let _ = table.remove(Direction::In, spi_in);
}

/// Remove inbound SAs a rekey left beside a bundle's pair (the new one
/// before the switch, the replaced one until it retires); gone is fine.
pub fn remove_inbound(table: &SaTable, spis: &[u32]) {
    for &spi in spis {
        let _ = table.remove(Direction::In, spi);
    }
}

/// Move those inbound SAs with the pair (a handover during a rekey): the
/// peer may send on either; gone (retired meanwhile) is fine.
pub fn move_inbound(table: &SaTable, spis: &[u32], local: Ipv4Addr, peer: Ipv4Addr) {
    for &spi in spis {
        let _ = table.move_outer(Direction::In, spi, local.into(), peer.into());
    }
}

/// Move both SAs of a bundle to new outer addresses (no re-keying).
pub fn move_pair(table: &SaTable, spi_out: u32, spi_in: u32, local: Ipv4Addr, peer: Ipv4Addr) -> anyhow::Result<()> {
    table.move_outer(Direction::Out, spi_out, local.into(), peer.into())?;
    table.move_outer(Direction::In, spi_in, local.into(), peer.into())?;
    Ok(())
}

/// Packets sealed on `spi_out` and opened on `spi_in`, from the table.
pub fn packets(table: &SaTable, spi_out: u32, spi_in: u32) -> (u64, u64) {
    let (mut inp, mut out) = (0, 0);
    for r in table.list(false) {
        match r.direction {
            Direction::In if r.spi == spi_in => inp = r.packets,
            Direction::Out if r.spi == spi_out => out = r.packets,
            _ => {}
        }
    }
    (inp, out)
}

/// Start the host data path on TUN `tun` with the role's hook, receiving
/// on AF_XDP as `xsk` says (`[esp] host_datapath`); the caller brings the
/// device up (address, routes, sysctls) with `vpn_io::tun_up`.
pub fn start_path(
    table: Arc<SaTable>,
    tun: &str,
    mtu: u32,
    hook: Arc<dyn TunnelHook>,
    xsk: Option<&XskOptions>,
) -> anyhow::Result<HostPath> {
    let opts = HostOptions { tun: tun.into(), mtu, addrs: Vec::new(), routes: Vec::new() };
    HostPath::start_host(table, &opts, Some(hook), xsk).context("starting the VPN's ESP data path")
}

/// Relaxed counters a hook bumps in the receive worker.
#[derive(Debug, Default)]
pub struct Count(std::sync::atomic::AtomicU64);

impl Count {
    pub fn inc(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}
