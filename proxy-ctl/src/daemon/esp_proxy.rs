//! The proxy role's ESP side (seed steps F–K): legacy hosts reach HIP hosts
//! through substitute addresses, encrypted between the proxy and the HIP
//! host.
//!
//! - the DNS role hands out a substitute for a name with a HIP RR: it is
//!   mapped in the [`Translator`] to (our HIT, the peer's HIT), the peer's
//!   locators are remembered for the base exchange, and the XDP mapping is
//!   flagged HIP so XDP passes its packets to the kernel;
//! - the kernel routes the substitute pools into the ESP TUN device; the
//!   host data path translates each packet onto HIT -> HIT and seals it on
//!   the peer's SA, or holds it and reports the miss, which starts the base
//!   exchange with the mapping's locators ([`ProxyEsp::locators`]); the
//!   held packet leaves as soon as the SA pair is installed;
//! - opened packets are translated back and written to the TUN device, the
//!   kernel forwards them to the LAN;
//! - a task expires idle flows; an expired substitute is unmapped.
//!
//! The engine seam: this TUN path is the slow path and the fallback; an
//! AF_XDP engine takes the same [`Translator`] ([`ProxyEsp::translator`])
//! and the same SA table.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use proxy_proto::dns::{Locator, MappingEvent};
use proxy_proto::esp::proxy::{Translator, TranslatorConfig};
use tracing::{debug, info};

use crate::{
    config::{Config, EspSection},
    control::{EspFlowInfo, EspMappingInfo, Response},
    esp::{
        SaTable,
        host::{HostOptions, HostPath, monotonic_secs},
    },
};

/// IPv6 (40) and TCP (20) headers: what an inner packet of `tun_mtu` bytes
/// leaves for a segment (the MSS legacy hosts are clamped to).
const V6_TCP_HEADERS: u32 = 60;

/// How often idle flows are expired.
const EXPIRE_EVERY: Duration = Duration::from_secs(5);

pub struct ProxyEsp {
    translator: Arc<Translator>,
    local_hit: Ipv6Addr,
    /// Peer HIT -> locators from its HIP RR, for the base exchange.
    locators: Mutex<HashMap<Ipv6Addr, Vec<IpAddr>>>,
}

impl ProxyEsp {
    pub fn translator(&self) -> &Arc<Translator> {
        &self.translator
    }

    pub fn local_hit(&self) -> Ipv6Addr {
        self.local_hit
    }

    /// The DNS role handed out `m.substitute` for the HIP host `m.hit`.
    pub fn mapped(&self, m: &MappingEvent) {
        let peer_hit = Ipv6Addr::from(m.hit);
        let mut locs: Vec<IpAddr> = Vec::new();
        for l in &m.locators {
            match l {
                Locator::Address(a) => locs.push(*a),
                Locator::RendezvousServer { addresses, .. } => locs.extend(addresses),
            }
        }
        self.lock().insert(peer_hit, locs);
        self.translator.map_substitute(m.substitute, self.local_hit, peer_hit);
        info!(name = %m.name, substitute = %m.substitute, peer_hit = %peer_hit, "substitute mapped to a HIP host (ESP)");
    }

    /// A static mapping (`[[mapping]]` or `mapping add` with a HIT as
    /// peer): the base exchange goes to the `[[hip.peer]]` locators.
    pub fn map_static(&self, substitute: IpAddr, peer_hit: Ipv6Addr) {
        self.translator.map_substitute(substitute, self.local_hit, peer_hit);
        info!(%substitute, peer_hit = %peer_hit, "static substitute mapped to a HIP host (ESP)");
    }

    /// The substitute expired.
    pub fn unmapped(&self, substitute: IpAddr) {
        let Some(m) = self.translator.mapping(substitute) else { return };
        self.translator.unmap_substitute(substitute);
        // Other substitutes may still stand for the same HIP host.
        if !self.translator.mappings().iter().any(|(_, o)| o.peer_hit == m.peer_hit) {
            self.lock().remove(&m.peer_hit);
        }
    }

    /// Locators of `peer_hit` learnt from DNS (empty if none).
    pub fn locators(&self, peer_hit: Ipv6Addr) -> Vec<IpAddr> {
        self.lock().get(&peer_hit).cloned().unwrap_or_default()
    }

    /// Live flows per substitute (they keep the substitute from expiring).
    pub fn flows_per_substitute(&self) -> HashMap<IpAddr, u32> {
        let mut n = HashMap::new();
        for f in self.translator.flows() {
            *n.entry(f.substitute).or_insert(0) += 1;
        }
        n
    }

    /// `esp flows`: the translator's flows and counters.
    pub fn list(&self) -> Response {
        let now = monotonic_secs();
        let flows = self
            .translator
            .flows()
            .into_iter()
            .map(|f| EspFlowInfo {
                protocol: f.protocol.into(),
                legacy: f.legacy,
                legacy_port: f.legacy_port,
                substitute: f.substitute,
                remote_port: f.remote_port,
                local_hit: f.local_hit,
                peer_hit: f.peer_hit,
                nat_port: f.nat_port,
                state: f.state.into(),
                idle_secs: now.saturating_sub(f.last_seen_secs),
                packets_out: f.packets_out,
                bytes_out: f.bytes_out,
                packets_in: f.packets_in,
                bytes_in: f.bytes_in,
            })
            .collect();
        let counters = self
            .translator
            .counters()
            .named()
            .into_iter()
            .map(|(name, value)| crate::control::CounterInfo { name, value })
            .collect();
        let mappings = self
            .translator
            .mappings()
            .into_iter()
            .map(|(substitute, m)| EspMappingInfo {
                substitute,
                local_hit: m.local_hit,
                peer_hit: m.peer_hit,
                locators: self.locators(m.peer_hit),
            })
            .collect();
        Response::EspFlows { flows, counters, mappings }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Ipv6Addr, Vec<IpAddr>>> {
        self.locators.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether this config runs the proxy's ESP path: `[hip] role = "proxy"`
/// and `[esp]` (validated: with a TUN device).
pub fn wanted(cfg: &Config) -> bool {
    cfg.esp.is_some() && cfg.hip.as_ref().is_some_and(|h| h.role == crate::hip::HipRole::Proxy)
}

/// Start the proxy's TUN data path with a translator: the pools are routed
/// into the TUN device, our HIT is the first `[hip]` identity's.
pub fn start(cfg: &Config, e: &EspSection, table: Arc<SaTable>) -> anyhow::Result<(Arc<ProxyEsp>, HostPath)> {
    let hip = cfg.hip.as_ref().context("[hip] is needed by the proxy's ESP path")?;
    let first = hip.identities.first().context("[hip] identities: empty")?;
    let local_hit = crate::hip::identity::load_local(first)?.hit.to_ipv6();
    let tun = e.tun.clone().context("[esp] tun: the proxy role needs a TUN device")?;
    let translator = Arc::new(Translator::new(TranslatorConfig {
        max_flows: e.proxy_max_flows,
        mss_clamp: Some(e.tun_mtu.saturating_sub(V6_TCP_HEADERS).min(u32::from(u16::MAX)) as u16),
        ..TranslatorConfig::default()
    }));
    let mut routes: Vec<String> = e.tun_routes.iter().map(|p| p.to_string()).collect();
    routes.extend(cfg.pool.v4.iter().chain(cfg.pool.v6.iter()).map(|p| p.to_string()));
    let opts = HostOptions { tun: tun.clone(), mtu: e.tun_mtu, addrs: e.tun_addrs.clone(), routes };
    let path = HostPath::start_translating(table, &opts, translator.clone())?;
    info!(%tun, local_hit = %local_hit, max_flows = e.proxy_max_flows, "proxy ESP path running (substitute pools -> TUN)");
    Ok((Arc::new(ProxyEsp { translator, local_hit, locators: Mutex::new(HashMap::new()) }), path))
}

/// The static HIP mappings of the config into the translator (XDP has
/// them already: `load_datapath`).
pub fn map_static(p: &ProxyEsp, cfg: &Config) {
    for m in &cfg.mappings {
        if let IpAddr::V6(hit) = m.peer
            && crate::mapping_rules::is_hip_mapping(cfg, m.peer)
        {
            p.map_static(m.substitute, hit);
        }
    }
}

/// Expire idle flows now and then.
pub async fn expire(p: Arc<ProxyEsp>) {
    let mut tick = tokio::time::interval(EXPIRE_EVERY);
    loop {
        tick.tick().await;
        let n = p.translator.expire(monotonic_secs());
        if n > 0 {
            debug!(expired = n, "proxy ESP flows expired");
        }
    }
}
