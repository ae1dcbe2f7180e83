//! The VPN gateway role: ESP tunnel-mode SA bundles per mobile node whose
//! inbound SA accepts any outer source (seed 004) but only for what the
//! handover needs (counted), SIUs from the home agent applied through the
//! sans-IO `Gateway` (outbound SA moved before the Registration Reply is
//! forwarded), the return-routability check, and re-establishment.
//!
//! The SA bundles come from HIP base exchanges the mobile nodes initiate:
//! the HIP driver answers only the HITs of `[[vpn.gw.node]]` (others are
//! dropped and counted by the HIP core, `hip_not_admitted`), and on its
//! `Established` event this role's hook installs the tunnel-mode pair
//! (SPIs and KEYMAT as for BEET, RFC 7402 §7; inner selector the node's
//! home address; inbound with the wildcard source) before the R2 leaves.
//! A new base exchange from the same HIT replaces the bundle (the
//! fallback re-establishment). Static bundles stay possible for testing.
//! A rekey of an MN's association by UPDATE gives its bundle new SPIs and
//! keys (vpn_gw/rekey.rs).
//!
//! Datapath: the ESP engine's host data path (vpn_esp.rs) with this role's
//! SAs in the daemon's `SaTable`. Traffic from the private side to a
//! care-of address is routed (policy rule `iif inner_dev ipproto 4` ->
//! `table`, one default route) into the TUN device; the engine seals it on
//! the tunnel SA whose outer peer that care-of address is (or drops and
//! counts it, `drop_no_sa`). ESP from MNs is opened by the engine;
//! [`GwHook`] limits the wildcard source, takes Registration Requests and
//! return-routability echoes for this driver, and lets data through to
//! the TUN device for the kernel to forward.

mod bundles;
mod driver;
mod rekey;

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddrV4},
    sync::{
        Arc, Mutex, OnceLock, RwLock,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use proxy_proto::{
    hip::{assoc::DropReason, crypto::Hit},
    vpn::{
        gateway::{Gateway, GatewayConfig, GwAction, SaBundle},
        ipv4,
        request::{self, MIP_PORT},
        siu::SiuKey,
    },
};
use tracing::{debug, info, warn};

use bundles::{Installer, hip_hook};

use super::{
    hip::HipHandle,
    vpn_esp::{self, Count},
    vpn_io::{self, Wake, WakingSender, fill_random, unix_ms},
    vpn_mn::mip_datagram,
};
use crate::{
    esp::{
        SaTable,
        host::{HostPath, Injector, XskOptions},
        tunnel_hook::{Arrival, TunnelHook, Verdict},
    },
    vpn::{
        config::{GwSection, hex_key},
        view::{BundleInfo, HandoverInfo, VpnCounter, VpnView},
    },
};

/// Mobile IP message types seen inside the tunnel (RFC 5944 §3.3; SIU.md).
const MIP_REGISTRATION_REQUEST: u8 = 1;
const MIP_EXPERIMENTAL: u8 = 255;
const SUBTYPE_RR_RESPONSE: u8 = 3;
/// MTU of the GW's TUN device: what ESP-sealed still fits a 1500-byte path
/// (outer IPv4 20, ESP header + GCM IV 16, trailer <= 5, ICV 16: 1443),
/// rounded down. Larger packets get ICMP "fragmentation needed" from the
/// kernel, so path-MTU discovery works across the tunnel.
const GW_TUN_MTU: u32 = 1440;
/// How long the HA's packets for the address an MN left wait for the SA
/// to move from it (from the MN's Registration Request at a new address):
/// a registration through the HA and, when the SIU waits for it, the
/// return-routability echo. Past it they go to the old address, as
/// without the hold (the MN drops them, having moved its own SAs).
const LEAVING_HOLD: Duration = Duration::from_millis(500);

/// What the receive worker knows of a bundle, by inbound SPI. The map is
/// written only when a bundle is installed or removed; what a handover
/// changes are atomics, so the per-packet path takes an uncontended read
/// lock and never waits on the control plane.
#[derive(Debug)]
struct Policy {
    home: Ipv4Addr,
    /// Shared by the bundle's inbound SPIs while a rekey has two.
    care_of: Arc<AtomicU32>,
    /// A new outer source the MN registers from (0: none): its data is
    /// accepted until the handover completes or fails (the wildcard, limited).
    pending_source: Arc<AtomicU32>,
    /// (our HIT, the MN's HIT) of a HIP-keyed bundle: its first ESP moves
    /// the Responder from R2-SENT to ESTABLISHED (RFC 7401 §4.4.2).
    hits: Option<(Hit, Hit)>,
    esp_seen: AtomicBool,
}

/// A snapshot of a [`Policy`] for one packet.
#[derive(Debug, Clone, Copy)]
struct PolicyNow {
    home: Ipv4Addr,
    care_of: Ipv4Addr,
    pending_source: Option<Ipv4Addr>,
}

impl Policy {
    fn new(home: Ipv4Addr, care_of: Ipv4Addr, hits: Option<(Hit, Hit)>) -> Policy {
        Policy {
            home,
            care_of: Arc::new(AtomicU32::new(care_of.into())),
            pending_source: Arc::new(AtomicU32::new(0)),
            hits,
            esp_seen: AtomicBool::new(false),
        }
    }

    fn now(&self) -> PolicyNow {
        let pending = self.pending_source.load(Ordering::Relaxed);
        PolicyNow {
            home: self.home,
            care_of: self.care_of.load(Ordering::Relaxed).into(),
            pending_source: (pending != 0).then(|| pending.into()),
        }
    }

    fn set_pending_source(&self, a: Option<Ipv4Addr>) {
        self.pending_source.store(a.map_or(0, u32::from), Ordering::Relaxed);
    }
}

#[derive(Default)]
struct HookCounters {
    esp_not_ours: Count,
    wildcard_source_accepted: Count,
    wildcard_data_accepted: Count,
    wildcard_data_dropped: Count,
    inner_source_mismatch: Count,
}

enum FromTunnel {
    /// A Registration Request (the whole inner datagram) from `src`.
    Request {
        spi: u32,
        src: Ipv4Addr,
        inner: Vec<u8>,
    },
    RrResponse {
        spi: u32,
        payload: Vec<u8>,
    },
    /// A base exchange with an admitted MN installed this pair (from the
    /// HIP driver's event hook).
    Established {
        home: Ipv4Addr,
        care_of: Ipv4Addr,
        spi_in: u32,
        spi_out: u32,
    },
    /// The MN closed its association: its SAs are gone.
    Closed {
        home: Ipv4Addr,
    },
    /// First ESP on an inbound SA of a HIP-keyed bundle.
    FirstEsp {
        local: Hit,
        peer: Hit,
        spi: u32,
    },
    /// A rekey's step for the driver (vpn_gw/rekey.rs).
    Rekey(rekey::RekeyNote),
}

/// The GW's per-packet decisions, in the ESP receive worker.
struct GwHook {
    inner: Ipv4Addr,
    public: Ipv4Addr,
    policy: RwLock<HashMap<u32, Policy>>,
    tx: WakingSender<FromTunnel>,
    c: HookCounters,
    /// The data path's TUN device, once it runs (Registration Requests go
    /// inside from the receive worker).
    inject: OnceLock<Injector>,
    /// An SIU waits for the return-routability echo (`rr_credit_bytes =
    /// 0`): the check must start as soon as the request is seen.
    rr_waits_for_echo: bool,
    /// The ESP engine's SAs: a Registration Request from a new address
    /// suspends the old one (esp/table/leaving.rs).
    table: Arc<SaTable>,
}

fn v4(a: std::net::IpAddr) -> Option<Ipv4Addr> {
    match a {
        std::net::IpAddr::V4(a) => Some(a),
        std::net::IpAddr::V6(_) => None,
    }
}

impl GwHook {
    fn policy(&self, spi: u32) -> Option<PolicyNow> {
        self.policy.read().unwrap_or_else(|e| e.into_inner()).get(&spi).map(Policy::now)
    }

    /// Whether a registration is in progress from `a` (a new care-of
    /// address): the ESP engine holds the home agent's packets for it
    /// until the SA moves there (asked once per address it holds for).
    fn is_pending_source(&self, a: IpAddr) -> bool {
        let IpAddr::V4(a) = a else { return false };
        let a = u32::from(a);
        let map = self.policy.read().unwrap_or_else(|e| e.into_inner());
        map.values().any(|p| p.pending_source.load(Ordering::Relaxed) == a)
    }

    /// Whether `a` is a bundle's care-of address.
    fn is_care_of(&self, a: Ipv4Addr) -> bool {
        let a = u32::from(a);
        let map = self.policy.read().unwrap_or_else(|e| e.into_inner());
        map.values().any(|p| p.care_of.load(Ordering::Relaxed) == a)
    }

    /// (our HIT, the MN's HIT) of a HIP-keyed bundle.
    fn hits(&self, spi: u32) -> Option<(Hit, Hit)> {
        self.policy.read().unwrap_or_else(|e| e.into_inner()).get(&spi).and_then(|p| p.hits)
    }

    /// Changes a bundle's mutable state (atomics: readers never wait).
    fn update(&self, spi: u32, f: impl FnOnce(&Policy)) {
        if let Some(p) = self.policy.read().unwrap_or_else(|e| e.into_inner()).get(&spi) {
            f(p);
        }
    }

    /// The first authentic ESP on each inbound SA of a HIP-keyed bundle goes
    /// to the driver once (R2-SENT -> ESTABLISHED; a rekey's switch).
    fn first_esp(&self, spi: u32) {
        let map = self.policy.read().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = map.get(&spi)
            && let Some((local, peer)) = p.hits
            && !p.esp_seen.swap(true, Ordering::Relaxed)
        {
            let _ = self.tx.send(FromTunnel::FirstEsp { local, peer, spi });
        }
    }

    /// The inner source must be the MN's: its home address, or a care-of
    /// address for its own Mobile IP messages.
    fn inner_source_ok(&self, p: &PolicyNow, inner: &[u8]) -> bool {
        let Some(src) = inner.get(12..16).map(|s| Ipv4Addr::new(s[0], s[1], s[2], s[3])) else { return false };
        let ok = src == p.home || src == p.care_of || Some(src) == p.pending_source;
        if !ok {
            self.c.inner_source_mismatch.inc();
            debug!(%src, home = %p.home, "inner source is not the mobile node's: dropped");
        }
        ok
    }
}

impl TunnelHook for GwHook {
    fn before_open(&self, a: &Arrival) -> bool {
        let Some(p) = self.policy(a.spi) else {
            self.c.esp_not_ours.inc();
            return false;
        };
        if a.dst.is_some_and(|d| d != std::net::IpAddr::V4(self.public)) {
            self.c.esp_not_ours.inc();
            return false;
        }
        // The wildcard (seed 004): opened whatever the source, counted.
        if v4(a.src) != Some(p.care_of) {
            self.c.wildcard_source_accepted.inc();
        }
        true
    }

    fn opened(&self, a: &Arrival, inner: &[u8]) -> Verdict {
        let (Some(p), Some(src)) = (self.policy(a.spi), v4(a.src)) else { return Verdict::Drop };
        self.first_esp(a.spi);
        if ipv4::Packet::new_checked(inner).is_err() {
            self.c.inner_source_mismatch.inc();
            return Verdict::Drop;
        }
        if let Some(d) = mip_datagram(inner) {
            let kind = (d.payload.first().copied(), d.payload.get(1).copied());
            if *d.dst.ip() == self.inner && kind == (Some(MIP_EXPERIMENTAL), Some(SUBTYPE_RR_RESPONSE)) {
                debug!(target: "handover", step = "gw_echo_rx", "return-routability echo opened");
                let _ = self.tx.send(FromTunnel::RrResponse { spi: a.spi, payload: d.payload.to_vec() });
                return Verdict::Taken;
            }
            if kind.0 == Some(MIP_REGISTRATION_REQUEST) {
                debug!(target: "handover", step = "gw_rrq_rx", %src, "Registration Request opened");
                // The driver's core gets a copy (it starts the
                // return-routability check of a new source); the request
                // itself goes inside from here, so the home agent's
                // processing does not wait for the driver to wake up.
                if !request::Packet::new_checked(d.payload).is_ok_and(|r| r.home_address() == p.home) {
                    let _ = self.tx.send(FromTunnel::Request { spi: a.spi, src, inner: inner.to_vec() });
                    return Verdict::Taken;
                }
                let p = if src != p.care_of {
                    self.update(a.spi, |q| q.set_pending_source(Some(src)));
                    // The MN has left its care-of address: what the HA still
                    // sends there waits for the SA move, then follows it;
                    // so does what it sends to the new one (which may still
                    // name the SA from an earlier move).
                    self.table.suspend_peers(&[p.care_of.into(), src.into()], LEAVING_HOLD);
                    PolicyNow { pending_source: Some(src), ..p }
                } else {
                    p
                };
                if !self.inner_source_ok(&p, inner) {
                    let _ = self.tx.send(FromTunnel::Request { spi: a.spi, src, inner: inner.to_vec() });
                    return Verdict::Drop;
                }
                // Inside first, then the copy: waking the driver could
                // take this CPU before the request is on its way.
                let verdict = match self.inject.get().map(|i| i.inject(inner)) {
                    Some(Ok(())) => Verdict::Taken,
                    Some(Err(e)) => {
                        debug!("Registration Request not written inside: {e}");
                        Verdict::Taken
                    }
                    None => Verdict::Deliver(0..inner.len()),
                };
                debug!(target: "handover", step = "gw_rrq_forwarded", "Registration Request forwarded inside");
                // With the SIU applied on credit the copy only starts the
                // return-routability check, which need not run before the
                // SIU: the driver is not woken for it (one wake-up less on
                // two busy CPUs while the home agent works); it takes the
                // copy when the SIU wakes it, or at its next tick. When the
                // SIU waits for the echo (no credit), the check starts now.
                let m = FromTunnel::Request { spi: a.spi, src, inner: inner.to_vec() };
                let _ = if self.rr_waits_for_echo { self.tx.send(m) } else { self.tx.send_quiet(m) };
                return verdict;
            }
        }
        // Ordinary data: from the current care-of address, or from the
        // address a registration is in progress from (wildcard, limited).
        if src != p.care_of {
            if p.pending_source == Some(src) {
                self.c.wildcard_data_accepted.inc();
            } else {
                self.c.wildcard_data_dropped.inc();
                return Verdict::Drop;
            }
        }
        if !self.inner_source_ok(&p, inner) {
            return Verdict::Drop;
        }
        Verdict::Deliver(0..inner.len())
    }
}

/// A bundle's SAs, by home address.
struct GwBundle {
    spi_in: u32,
    spi_out: u32,
    generation: u32,
    /// Rekeys by UPDATE since its base exchange.
    rekeys: u32,
    /// Its association was closed and the SAs removed; kept for the
    /// generation count (a new base exchange closes the old one first).
    closed: bool,
}

#[derive(Debug, Default)]
struct Counters {
    sent: u64,
    send_errors: u64,
    /// Bundles installed by a base exchange.
    hip_established: u64,
    /// Of which replaced an existing bundle (the MN's fallback).
    reestablished: u64,
    /// New care-of addresses the ESP engine held the home agent's packets
    /// for until the SA moved there (or gave up).
    held_for_new_care_of: u64,
    /// Of which no SA move came within `driver::HOLD_LIMIT`: dropped.
    held_given_up: u64,
    /// Bundles rekeyed by HIP UPDATE (new SPIs and keys).
    rekeys: u64,
}

struct Gw {
    sec: GwSection,
    core: Gateway,
    table: Arc<SaTable>,
    path: HostPath,
    hook: Arc<GwHook>,
    inst: Arc<Installer>,
    hip: Option<HipHandle>,
    /// The daemon's runtime: the driver thread enters it, so the HIP
    /// calls and timers it starts (`tokio::spawn`) run there.
    rt: tokio::runtime::Handle,
    /// HIP packets from HITs not in `[[vpn.gw.node]]`, dropped by the HIP
    /// core (polled on the tokio side).
    hip_not_admitted: Arc<AtomicU64>,
    bundles: HashMap<Ipv4Addr, GwBundle>,
    by_spi_out: HashMap<u32, Ipv4Addr>,
    c: Counters,
    view: Arc<Mutex<VpnView>>,
    /// SIU arrival, for the history.
    siu_at: Option<(Instant, u64)>,
}

pub async fn run(
    sec: GwSection,
    table: Arc<SaTable>,
    xsk: Option<XskOptions>,
    view: Arc<Mutex<VpnView>>,
    hip: Option<HipHandle>,
) -> anyhow::Result<()> {
    let mut gc = GatewayConfig::new(sec.inner);
    gc.return_routability = sec.return_routability;
    gc.rr_timeout = Duration::from_millis(sec.rr_timeout_ms);
    gc.rr_credit = sec.rr_credit_bytes;
    let mut core = Gateway::new(gc);
    for h in &sec.home_agents {
        let key = hex_key("[vpn.gw.home_agent] siu_key", &h.siu_key).map_err(anyhow::Error::msg)?;
        core.add_home_agent(h.address, SiuKey::new(h.siu_key_id, &key));
    }
    let wake = Arc::new(Wake::new().context("the gateway driver's wake-up eventfd")?);
    let (tx, from_hook) = vpn_io::waking_channel(&wake);
    let hook = Arc::new(GwHook {
        inner: sec.inner,
        public: sec.public,
        policy: RwLock::default(),
        tx,
        c: HookCounters::default(),
        inject: OnceLock::new(),
        rr_waits_for_echo: sec.return_routability && sec.rr_credit_bytes == 0,
        table: table.clone(),
    });
    let inst =
        Arc::new(Installer { table: table.clone(), hook: hook.clone(), public: sec.public, pairs: Mutex::default() });
    let admitted: HashMap<Hit, Ipv4Addr> =
        sec.nodes.iter().filter_map(|n| n.hit.map(|h| (Hit::from(h), n.home))).collect();
    let hip = match (admitted.is_empty(), hip) {
        (true, _) => None,
        (false, Some(h)) => {
            h.set_event_hook(hip_hook(inst.clone(), admitted.clone()))?;
            Some(h)
        }
        (false, None) => anyhow::bail!("[[vpn.gw.node]] with a hit needs a [hip] section"),
    };
    let path = vpn_esp::start_path(table.clone(), &sec.tun, GW_TUN_MTU, hook.clone(), xsk.as_ref())?;
    let _ = hook.inject.set(path.injector());
    vpn_io::tun_up(&sec.tun, None, GW_TUN_MTU).await?;
    vpn_io::sysctl_v4("ip_forward", "1")?;
    // Every IP-in-IP packet from the private side (the HA's traffic for
    // the MNs) goes to the ESP engine, which seals it on the SA whose
    // outer peer is the care-of address it is for, or counts it dropped:
    // it never leaves in clear, also not while an SA is about to move.
    let rt = sec.table.to_string();
    let _ = vpn_io::ip(&["rule", "del", "iif", &sec.inner_dev, "ipproto", "4", "lookup", &rt]).await;
    vpn_io::ip(&["rule", "add", "iif", &sec.inner_dev, "ipproto", "4", "lookup", &rt, "priority", "1000"]).await?;
    vpn_io::ip(&["route", "replace", "default", "dev", &sec.tun, "table", &rt]).await?;
    let hip_not_admitted = Arc::new(AtomicU64::new(0));
    let mut gw = Gw {
        core,
        table,
        path,
        hook,
        inst,
        hip: hip.clone(),
        rt: tokio::runtime::Handle::current(),
        hip_not_admitted: hip_not_admitted.clone(),
        bundles: HashMap::new(),
        by_spi_out: HashMap::new(),
        c: Counters::default(),
        view,
        siu_at: None,
        sec: sec.clone(),
    };
    for n in &sec.nodes {
        let what = || format!("[[vpn.gw.node]] {}", n.home);
        let Some((care_of, p)) = n.static_pair().map_err(anyhow::Error::msg)? else { continue };
        gw.inst.install(n.home, care_of, (p.spi_out, &p.key_out), (p.spi_in, &p.key_in), None).with_context(what)?;
        gw.bundle_installed(n.home, care_of, p.spi_in, p.spi_out);
    }
    // The home agent's IP-in-IP for a new care-of address can reach us
    // before its SIU has moved the SA: the engine holds it (bounded,
    // counted `held`) for addresses a registration is in progress from and
    // sends it the moment the SA moves (`released`), instead of dropping
    // the first data after the move (`drop_no_sa`).
    let (miss_tx, misses) = tokio::sync::mpsc::unbounded_channel();
    let h = gw.hook.clone();
    gw.table.set_miss_sender(miss_tx, move |dst| h.is_pending_source(dst));
    let siu_sock = std::net::UdpSocket::bind(SocketAddrV4::new(sec.inner, MIP_PORT))
        .context("binding the SIU socket (inner:434)")?;
    info!(inner = %sec.inner, public = %sec.public, rr = sec.return_routability, admitted = admitted.len(),
        "VPN gateway ready");
    gw.refresh();
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("vpn-gw".into())
        .spawn(move || {
            crate::sched::enter("vpn-gw");
            let _ = done_tx.send(gw.run_thread(siu_sock, &wake, from_hook, misses));
        })
        .context("starting the gateway's driver thread")?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            r = &mut done_rx => return r.context("gateway driver thread gone")?,
            _ = tick.tick() => poll_hip(hip.as_ref(), &hip_not_admitted).await,
        }
    }
}

/// The HIP core's refusals of HITs we do not admit, as our counter.
async fn poll_hip(hip: Option<&HipHandle>, counter: &AtomicU64) {
    let Some(h) = hip else { return };
    let Ok(s) = h.stats().await else { return };
    let n = s.core.dropped(DropReason::PeerNotAllowed);
    if n > counter.swap(n, Ordering::Relaxed) {
        warn!(total = n, "HIP packets from HITs not in [[vpn.gw.node]] dropped");
    }
}

impl Gw {
    /// The control-plane half of a bundle (the Installer did the SAs):
    /// the core's bundle, the views. Returns the generation.
    fn bundle_installed(&mut self, home: Ipv4Addr, care_of: Ipv4Addr, spi_in: u32, spi_out: u32) -> u32 {
        let generation = match self.bundles.remove(&home) {
            Some(old) => {
                self.by_spi_out.remove(&old.spi_out);
                old.generation + 1
            }
            None => 0,
        };
        self.core.add_bundle(SaBundle {
            home_address: home,
            inbound_spi: spi_in,
            outbound_spi: spi_out,
            care_of_address: care_of,
        });
        self.by_spi_out.insert(spi_out, home);
        self.bundles.insert(home, GwBundle { spi_in, spi_out, generation, rekeys: 0, closed: false });
        generation
    }

    /// A message from the receive worker or the HIP hook, into the core;
    /// the caller drains the core's actions.
    fn on_tunnel(&mut self, m: FromTunnel) {
        match m {
            FromTunnel::Established { home, care_of, spi_in, spi_out } => {
                let t0 = Instant::now();
                let from = self.core.bundle(home).map(|b| b.care_of_address);
                let generation = self.bundle_installed(home, care_of, spi_in, spi_out);
                debug!(target: "handover", step = "gw_bundle_installed", "bundle from a base exchange");
                self.c.hip_established += 1;
                info!(%home, %care_of, spi_in = format_args!("{spi_in:#010x}"), spi_out = format_args!("{spi_out:#010x}"),
                    generation, "VPN SAs from a HIP base exchange installed");
                if generation > 0 {
                    self.c.reestablished += 1;
                    let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
                    v.push_history(HandoverInfo {
                        home_address: home,
                        from,
                        to: care_of,
                        at_unix_ms: unix_ms(),
                        kind: "reestablished".into(),
                        registered_ms: Some(t0.elapsed().as_secs_f64() * 1e3),
                        inbound_spi: spi_in,
                        outbound_spi: spi_out,
                        ..Default::default()
                    });
                }
            }
            FromTunnel::Closed { home } => {
                info!(%home, "the mobile node closed its HIP association: SAs removed");
                if let Some(b) = self.bundles.get_mut(&home) {
                    b.closed = true;
                    self.by_spi_out.remove(&b.spi_out);
                }
            }
            FromTunnel::Rekey(note) => self.on_rekey(note),
            FromTunnel::FirstEsp { local, peer, spi } => {
                if let Some(h) = self.hip.clone() {
                    tokio::spawn(async move {
                        if let Err(e) = h.esp_received_on(local, peer, spi).await {
                            warn!("ESP received not passed to HIP: {e:#}");
                        }
                    });
                }
            }
            FromTunnel::RrResponse { spi, payload } => match self.core.handle_rr_response(spi, &payload) {
                Ok(()) => {
                    debug!(target: "handover", step = "gw_echo_verified", "return-routability echo verified");
                    info!(spi, "return-routability echo verified")
                }
                Err(e) => warn!(spi, "return-routability echo: {e}"),
            },
            FromTunnel::Request { spi, src, inner } => {
                let Some(p) = self.hook.policy(spi) else { return };
                let Some(d) = mip_datagram(&inner) else { return };
                debug!(home = %p.home, outer_src = %src, "Registration Request through the tunnel");
                // The hook forwarded it already (same home address check);
                // here the core starts the check of a new source.
                match self.core.handle_registration_request(Instant::now(), spi, src, d.payload, &mut fill_random) {
                    Ok(()) => {
                        debug!(target: "handover", step = "gw_rrq_checked", "Registration Request seen by the core")
                    }
                    Err(e) => warn!(home = %p.home, "Registration Request not forwarded: {e}"),
                }
            }
        }
    }

    /// Carries out the core's actions in order: the SA moves before the
    /// reply goes out (seed 004). Return-routability challenges go last:
    /// the check runs on credit beside the handover, and a challenge
    /// sealed first would delay the SA move and the reply.
    fn drain(&mut self) {
        let mut challenges = Vec::new();
        // HIP associations whose SAs moved: told once the reply is out.
        let mut moved: Vec<(Hit, Ipv4Addr)> = Vec::new();
        // A move on credit (the address not verified yet) comes right
        // after its Credit action.
        let mut on_credit = false;
        let mut logs = Vec::new();
        while let Some(a) = self.core.poll_action() {
            match a {
                GwAction::Credit { outbound_spi, credit } => {
                    // Before the move: nothing goes out unlimited to an
                    // address not verified yet.
                    if let Err(e) = self.table.set_credit(outbound_spi, credit) {
                        warn!(spi = outbound_spi, "SA credit not set: {e}");
                    }
                    on_credit = credit.is_some_and(|c| c > 0);
                    match credit {
                        None => info!(spi = outbound_spi, "care-of address verified: SA unlimited"),
                        Some(0) => warn!(spi = outbound_spi, "care-of address never verified: SA sends nothing there"),
                        Some(c) => debug!(spi = outbound_spi, credit = c, "SA limited until the echo"),
                    }
                }
                GwAction::MoveOutboundSa { outbound_spi, old_care_of_address, new_care_of_address } => {
                    let Some(&home) = self.by_spi_out.get(&outbound_spi) else { continue };
                    let Some(b) = self.bundles.get(&home) else { continue };
                    let spi_in = b.spi_in;
                    // Both SAs follow (the inbound one so `sa list` shows
                    // where the MN is, and its source check holds again);
                    // from now on the HA's IP-in-IP for the new address is
                    // sealed. Same SPIs and keys.
                    if let Err(e) =
                        vpn_esp::move_pair(&self.table, outbound_spi, spi_in, self.sec.public, new_care_of_address)
                    {
                        warn!(%home, "moving the SAs: {e:#}");
                    }
                    self.move_rekey_inbound(home, new_care_of_address);
                    self.hook.update(spi_in, |p| {
                        p.care_of.store(new_care_of_address.into(), Ordering::Relaxed);
                        p.set_pending_source(None);
                    });
                    if let Some((_, peer)) = self.hook.hits(spi_in) {
                        moved.push((peer, new_care_of_address));
                    }
                    debug!(target: "handover", step = "gw_sa_moved", "outbound SA moved");
                    // Logged once the reply is out: a log line is a write(2).
                    logs.push((home, old_care_of_address, new_care_of_address, outbound_spi));
                    let (t0, at) = self.siu_at.unwrap_or((Instant::now(), unix_ms()));
                    let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
                    v.push_history(HandoverInfo {
                        home_address: home,
                        from: Some(old_care_of_address),
                        to: new_care_of_address,
                        at_unix_ms: at,
                        kind: "fast".into(),
                        registered_ms: Some(t0.elapsed().as_secs_f64() * 1e3),
                        inbound_spi: spi_in,
                        outbound_spi,
                        rr_verified: Some(self.sec.return_routability && !on_credit),
                        ..Default::default()
                    });
                }
                GwAction::Forward { outbound_spi, dst, datagram } => {
                    self.send_inner(outbound_spi, dst, &datagram, "gw_reply_forwarded")
                }
                GwAction::Challenge { outbound_spi, dst, datagram } => challenges.push((outbound_spi, dst, datagram)),
            }
        }
        for (spi, dst, datagram) in challenges {
            self.send_inner(spi, dst, &datagram, "gw_challenge_sent");
        }
        for (home, from, to, spi) in logs {
            info!(%home, %from, %to, spi, "outbound SA moved (no re-keying)");
        }
        // `assoc list` (and any later HIP packet, a CLOSE or an UPDATE
        // rekey) follows the move: the HIP core records the new locator.
        if let Some(h) = &self.hip {
            for (peer, care_of) in moved {
                if let Err(e) = h.note_moved(peer, None, Some(care_of.into())) {
                    warn!("HIP association not told about the move: {e:#}");
                }
            }
        }
    }

    /// Seals a control datagram on the outbound SA `spi` to `dst`.
    fn send_inner(&mut self, spi: u32, dst: Ipv4Addr, datagram: &[u8], step: &'static str) {
        match self.path.send_inner(spi, datagram, Some(dst.into())) {
            Ok(()) => {
                debug!(target: "handover", step, "sent through the tunnel");
                self.c.sent += 1
            }
            Err(e) => {
                self.c.send_errors += 1;
                debug!(%dst, "sending through the tunnel: {e}");
            }
        }
    }

    fn refresh(&self) {
        let mut bundles: Vec<BundleInfo> = self
            .bundles
            .iter()
            .filter(|(_, b)| !b.closed)
            .map(|(home, b)| {
                let (packets_in, packets_out) = vpn_esp::packets(&self.table, b.spi_out, b.spi_in);
                BundleInfo {
                    home_address: *home,
                    care_of_address: self.core.bundle(*home).map(|s| s.care_of_address),
                    inbound_spi: b.spi_in,
                    outbound_spi: b.spi_out,
                    packets_in,
                    packets_out,
                    generation: b.generation,
                    rekeys: b.rekeys,
                }
            })
            .collect();
        bundles.sort_by_key(|b| b.home_address);
        let gc = self.core.counters();
        let mut counters = crate::vpn_counters!(gc; unknown_spi, malformed,
            home_address_mismatch, siu_applied, siu_denial_forwarded, siu_unknown_key, siu_unexpected_source,
            siu_bad_icv, siu_replayed, siu_unknown_mobile_node, siu_old_coa_mismatch, siu_bad_reply, siu_parked,
            siu_on_credit, rr_credit_revoked, rr_started, rr_verified, rr_failed, rr_mismatch);
        let h = &self.hook.c;
        for (name, v) in [
            ("wildcard_source_accepted", &h.wildcard_source_accepted),
            ("esp_not_ours", &h.esp_not_ours),
            ("wildcard_data_accepted", &h.wildcard_data_accepted),
            ("wildcard_data_dropped", &h.wildcard_data_dropped),
            ("inner_source_mismatch", &h.inner_source_mismatch),
        ] {
            counters.push(VpnCounter { name: name.into(), value: v.get() });
        }
        let c = &self.c;
        counters.extend(crate::vpn_counters!(c; sent, send_errors, hip_established, reestablished, rekeys,
            held_for_new_care_of, held_given_up));
        counters
            .push(VpnCounter { name: "hip_not_admitted".into(), value: self.hip_not_admitted.load(Ordering::Relaxed) });
        let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
        v.role = "gw";
        v.bundles = bundles;
        v.counters = counters;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{esp::Direction, vpn::config::TRANSFORM};
    use proxy_proto::{hip::assoc::Event, vpn::udp};

    const HOME: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 5);
    const COA_A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 23);
    const COA_B: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 23);
    const PUBLIC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const INNER: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 254);

    /// A hook with no bundle yet, and the driver's end of its channel
    /// (also for vpn_gw/rekey.rs's tests).
    pub(super) fn bare_hook() -> (GwHook, tokio::sync::mpsc::UnboundedReceiver<FromTunnel>) {
        let (tx, rx) = vpn_io::waking_channel(&Arc::new(Wake::new().unwrap()));
        let h = GwHook {
            inner: INNER,
            public: PUBLIC,
            policy: RwLock::default(),
            tx,
            c: HookCounters::default(),
            inject: OnceLock::new(),
            rr_waits_for_echo: false,
            table: Arc::new(SaTable::new(None)),
        };
        (h, rx)
    }

    /// [`bare_hook`] with the bundle of SPI 4096 (HOME at COA_A).
    fn hook() -> (GwHook, tokio::sync::mpsc::UnboundedReceiver<FromTunnel>) {
        let (h, rx) = bare_hook();
        h.policy.write().unwrap().insert(4096, Policy::new(HOME, COA_A, None));
        (h, rx)
    }

    fn arrival(spi: u32, src: Ipv4Addr) -> Arrival {
        Arrival { spi, src: src.into(), dst: Some(PUBLIC.into()), local: PUBLIC.into(), peer: COA_A.into() }
    }

    fn udp(src: Ipv4Addr, dst: Ipv4Addr, port: u16, payload: &[u8]) -> Vec<u8> {
        udp::build(SocketAddrV4::new(src, port), SocketAddrV4::new(dst, port), 64, payload).unwrap()
    }

    #[test]
    fn wildcard_source_is_opened_and_counted_unknown_spi_and_destination_refused() {
        let (h, _rx) = hook();
        assert!(h.before_open(&arrival(4096, COA_A)));
        assert_eq!(h.c.wildcard_source_accepted.get(), 0);
        assert!(h.before_open(&arrival(4096, COA_B)));
        assert_eq!(h.c.wildcard_source_accepted.get(), 1);
        assert!(!h.before_open(&arrival(4097, COA_A)));
        let mut a = arrival(4096, COA_A);
        a.dst = Some(INNER.into());
        assert!(!h.before_open(&a));
        assert_eq!(h.c.esp_not_ours.get(), 2);
    }

    #[test]
    fn from_a_new_source_only_a_registration_then_its_data() {
        let (h, mut rx) = hook();
        let data = udp(HOME, Ipv4Addr::new(10, 1, 1, 10), 5000, b"data");
        // Data from an address no registration came from: dropped.
        assert_eq!(h.opened(&arrival(4096, COA_B), &data), Verdict::Drop);
        assert_eq!(h.c.wildcard_data_dropped.get(), 1);
        // The Registration Request goes to the driver.
        let req = udp(COA_B, Ipv4Addr::new(10, 1, 0, 1), MIP_PORT, &[MIP_REGISTRATION_REQUEST, 0, 0, 0]);
        assert_eq!(h.opened(&arrival(4096, COA_B), &req), Verdict::Taken);
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::Request { spi: 4096, src, .. }) if src == COA_B));
        // A well-formed one for this MN goes inside at once (here, without
        // the data path's TUN device: delivered; the driver gets a copy)
        // and marks its source pending: its data passes, counted.
        let mut rrq = [0u8; 24];
        rrq[0] = MIP_REGISTRATION_REQUEST;
        rrq[4..8].copy_from_slice(&HOME.octets());
        let req = udp(COA_B, Ipv4Addr::new(10, 1, 0, 1), MIP_PORT, &rrq);
        assert_eq!(h.policy(4096).unwrap().pending_source, None);
        // The outbound SA toward the care-of address the MN is leaving.
        let out = crate::esp::spec::SaSpec {
            spi: 8192,
            direction: Direction::Out,
            mode: crate::esp::spec::ModeName::Tunnel,
            transform: "aes128-gcm16".into(),
            key: "ab".repeat(20),
            local: PUBLIC.into(),
            peer: COA_A.into(),
            inner_local: None,
            inner_peer: Some(HOME.into()),
            wildcard_source: false,
        };
        h.table.install(out.validate().unwrap()).unwrap();
        assert!(h.table.read().outbound_for(COA_A.into()).is_some());
        assert_eq!(h.opened(&arrival(4096, COA_B), &req), Verdict::Deliver(0..req.len()));
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::Request { spi: 4096, src, .. }) if src == COA_B));
        assert_eq!(h.policy(4096).unwrap().pending_source, Some(COA_B));
        // What the HA still sends to the address the MN left, or to the
        // new one, waits for the SA move (the engine holds it:
        // esp/table/leaving.rs); the MN's home address is not held.
        assert!(h.table.holds_for(COA_A.into()) && h.table.holds_for(COA_B.into()));
        assert!(!h.table.holds_for(HOME.into()));
        // The engine may hold the HA's packets for that address (and only
        // for it) until the SA moves there.
        assert!(h.is_pending_source(COA_B.into()));
        assert!(!h.is_pending_source(COA_A.into()) && !h.is_pending_source(INNER.into()));
        assert!(h.is_care_of(COA_A) && !h.is_care_of(COA_B));
        // Another MN's home address: only the copy (the core counts it).
        rrq[7] ^= 1;
        let other = udp(COA_B, Ipv4Addr::new(10, 1, 0, 1), MIP_PORT, &rrq);
        assert_eq!(h.opened(&arrival(4096, COA_B), &other), Verdict::Taken);
        assert!(rx.try_recv().is_ok());
        assert_eq!(h.opened(&arrival(4096, COA_B), &data), Verdict::Deliver(0..data.len()));
        assert_eq!(h.c.wildcard_data_accepted.get(), 1);
        // The echo of the return-routability nonce goes to the driver too.
        let echo = udp(COA_B, INNER, MIP_PORT, &[MIP_EXPERIMENTAL, SUBTYPE_RR_RESPONSE]);
        assert_eq!(h.opened(&arrival(4096, COA_B), &echo), Verdict::Taken);
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::RrResponse { spi: 4096, .. })));
    }

    #[test]
    fn inner_source_must_be_the_mobile_nodes() {
        let (h, _rx) = hook();
        let spoofed = udp(Ipv4Addr::new(10, 1, 1, 99), Ipv4Addr::new(10, 1, 1, 10), 5000, b"x");
        assert_eq!(h.opened(&arrival(4096, COA_A), &spoofed), Verdict::Drop);
        assert_eq!(h.opened(&arrival(4096, COA_A), &[0x45, 0, 0]), Verdict::Drop);
        assert_eq!(h.c.inner_source_mismatch.get(), 2);
        let ok = udp(HOME, Ipv4Addr::new(10, 1, 1, 10), 5000, b"x");
        assert_eq!(h.opened(&arrival(4096, COA_A), &ok), Verdict::Deliver(0..ok.len()));
    }

    fn established(peer: Hit, spi_in: u32, spi_out: u32) -> Event {
        Event::Established(Box::new(proxy_proto::hip::assoc::Established {
            local_hit: Hit::from("2001:2a::1".parse::<std::net::Ipv6Addr>().unwrap()),
            peer_hit: peer,
            local_locator: PUBLIC.into(),
            peer_locator: COA_A.into(),
            initiator: false,
            transform: TRANSFORM,
            inbound_spi: spi_in,
            outbound_spi: spi_out,
            inbound_key: vec![1u8; 20].into(),
            outbound_key: vec![2u8; 20].into(),
        }))
    }

    #[test]
    fn an_admitted_base_exchange_installs_a_tunnel_pair_before_r2_and_replaces_the_old_one() {
        let (h, mut rx) = hook();
        h.policy.write().unwrap().clear();
        let h = Arc::new(h);
        let table = Arc::new(SaTable::new(None));
        let inst =
            Arc::new(Installer { table: table.clone(), hook: h.clone(), public: PUBLIC, pairs: Mutex::default() });
        let mn = Hit::from("2001:2a::5".parse::<std::net::Ipv6Addr>().unwrap());
        let stranger = Hit::from("2001:2a::6".parse::<std::net::Ipv6Addr>().unwrap());
        let hook = hip_hook(inst, HashMap::from([(mn, HOME)]));
        hook(&established(stranger, 0x1000, 0x2000));
        assert!(table.list(false).is_empty(), "not admitted: nothing installed");
        hook(&established(mn, 0x1000, 0x2000));
        let sas = table.list(false);
        assert_eq!(sas.len(), 2);
        for sa in &sas {
            assert_eq!((sa.origin.as_str(), sa.inner_peer, sa.peer), ("hip", Some(HOME.into()), COA_A.into()));
            assert_eq!(sa.wildcard_source, sa.direction == Direction::In, "{sa:?}");
        }
        assert!(matches!(
            rx.try_recv(),
            Ok(FromTunnel::Established { home: HOME, spi_in: 0x1000, spi_out: 0x2000, .. })
        ));
        // The first authentic ESP is reported once (R2-SENT -> ESTABLISHED).
        let data = udp(HOME, Ipv4Addr::new(10, 1, 1, 10), 5000, b"x");
        assert_eq!(h.opened(&arrival(0x1000, COA_A), &data), Verdict::Deliver(0..data.len()));
        h.opened(&arrival(0x1000, COA_A), &data);
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::FirstEsp { peer, .. }) if peer == mn));
        assert!(rx.try_recv().is_err());
        // A new base exchange from the same HIT: the old association closes,
        // the new pair replaces the old one.
        let closed = Event::Closed { local_hit: mn, peer_hit: mn, inbound_spi: 0x1000 };
        hook(&closed);
        assert!(table.list(false).is_empty());
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::Closed { home: HOME })));
        hook(&established(mn, 0x3000, 0x4000));
        hook(&established(mn, 0x5000, 0x6000));
        let mut spis: Vec<u32> = table.list(false).iter().map(|s| s.spi).collect();
        spis.sort();
        assert_eq!(spis, vec![0x5000, 0x6000]);
        assert!(h.policy(0x3000).is_none() && h.policy(0x5000).is_some());
        // A Closed for SAs that are already gone changes nothing.
        hook(&closed);
        assert_eq!(table.list(false).len(), 2);
    }
}
