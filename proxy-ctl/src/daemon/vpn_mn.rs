//! The mobile node role: an ESP tunnel-mode VPN to the gateway on a TUN
//! device carrying the home address, Mobile IPv4 registration through the
//! sans-IO `MobileNode`, and the handover: on an rtnetlink address event the
//! SAs' outer addresses move at once (no re-keying), the Registration
//! Request goes through the tunnel, retransmissions back off, and as a
//! last resort the VPN is re-established with fresh SAs.
//!
//! The SAs come from a HIP base exchange with the gateway's HIT (the MN is
//! the Initiator, from its current care-of address to the gateway's public
//! locator; SPIs and KEYMAT from the `Established` event, RFC 7402 §7),
//! installed as tunnel-mode SAs; re-establishment is a fresh base exchange.
//! Without `gateway_hit` they are static. A rekey of that association by
//! UPDATE replaces the pair with new SPIs and keys (vpn_mn/rekey.rs).
//!
//! The SAs live in the daemon's ESP `SaTable` and packets go through the
//! ESP engine's host data path (vpn_esp.rs); a handover is
//! `SaTable::move_outer`. What this role decides per received packet is
//! [`MnHook`]: ESP only at the current care-of address, the home agent's
//! Registration Replies and the gateway's return-routability challenges to
//! this driver, and IP-in-IP from the home agent decapsulated right after
//! ESP (the packet is already in userspace, so stripping 20 bytes costs
//! nothing, whereas an eBPF program on the TUN device would see only what
//! we write into it anyway).

mod keying;
mod rekey;

use keying::{Establishing, MnHip, hip_hook, install_static};
use rekey::RekeyWatch;
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddrV4},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use proxy_proto::{
    hip::crypto::Hit,
    vpn::{
        ipip, ipv4,
        mobile_node::{MnAction, MobileNode, MobileNodeConfig},
        request::MIP_PORT,
        udp,
    },
};
use tracing::{debug, info, warn};

use super::{
    hip::HipHandle,
    vpn_esp::{self, Count},
    vpn_io::{self, Wake, WakingSender, now_ntp, poll_readable, unix_ms},
    vpn_netlink::{self, NetEvent, Watcher},
};
use crate::{
    esp::{
        SaTable,
        host::{ControlSendError, HostPath, XskOptions},
        tunnel_hook::{Arrival, TunnelHook, Verdict},
    },
    vpn::{
        config::{MnSection, mn_ha_key},
        view::{BundleInfo, HandoverInfo, VpnView},
    },
};

const MIP_REGISTRATION_REPLY: u8 = 3;
const MIP_EXPERIMENTAL: u8 = 255;
const SUBTYPE_RR_CHALLENGE: u8 = 2;
/// Pause before a failed base exchange with the gateway is tried again
/// (the HIP core has already retransmitted I1/I2 with back-off).
const REESTABLISH_RETRY: Duration = Duration::from_secs(1);
/// The driver's housekeeping period (the view).
const TICK: Duration = Duration::from_secs(1);

/// A Mobile IP message (UDP to port 434, RFC 5944 §3) in an inner IPv4
/// packet; the protocol and port are looked at before any checksum is.
pub fn mip_datagram(inner: &[u8]) -> Option<udp::Datagram<'_>> {
    let ihl = usize::from(*inner.first()? & 0x0f) * 4;
    if *inner.get(9)? != ipv4::PROTOCOL_UDP || inner.get(ihl + 2..ihl + 4)? != MIP_PORT.to_be_bytes() {
        return None;
    }
    udp::parse(inner).ok()
}

/// What the receive worker hands this driver.
enum FromTunnel {
    Reply(Vec<u8>),
    RrChallenge(SocketAddrV4, Vec<u8>),
    /// The first data packet since a handover started: when it was opened
    /// and at which local (care-of) address it had arrived.
    FirstData(Instant, IpAddr),
    /// The first packet on a rekey's new inbound SA (rekey.rs).
    FirstEspOn(u32),
}

#[derive(Default)]
struct HookCounters {
    esp_wrong_destination: Count,
    ipip_decapsulated: Count,
    ipip_dropped: Count,
}

/// The MN's per-packet decisions, in the ESP receive worker.
struct MnHook {
    home_agent: Ipv4Addr,
    tx: WakingSender<FromTunnel>,
    c: HookCounters,
    /// Set by a handover; the next data packet reports itself.
    want_first_data: AtomicBool,
    /// A rekey's new inbound SA whose first packet the HIP core wants.
    rekey: Arc<RekeyWatch>,
}

impl MnHook {
    fn data(&self, a: &Arrival) {
        if self.want_first_data.swap(false, Ordering::Relaxed) {
            let _ = self.tx.send(FromTunnel::FirstData(Instant::now(), a.local));
        }
    }
}

impl TunnelHook for MnHook {
    /// The inbound SA's destination is the current care-of address
    /// (RFC 4303 §4.4.2 selects on it); `move_outer` changes it.
    fn before_open(&self, a: &Arrival) -> bool {
        if a.dst.is_some_and(|d| d != a.local) {
            self.c.esp_wrong_destination.inc();
            return false;
        }
        true
    }

    fn opened(&self, a: &Arrival, inner: &[u8]) -> Verdict {
        rekey::report_first(&self.rekey, a.spi, &self.tx);
        if inner.get(9) == Some(&ipv4::PROTOCOL_IPIP) {
            return match ipip::decapsulate(inner) {
                Ok(d) if d.outer_src == self.home_agent => {
                    self.c.ipip_decapsulated.inc();
                    self.data(a);
                    let at = d.inner.as_ptr() as usize - inner.as_ptr() as usize;
                    Verdict::Deliver(at..at + d.inner.len())
                }
                Ok(d) => {
                    self.c.ipip_dropped.inc();
                    debug!(src = %d.outer_src, "IP-in-IP not from our home agent: dropped");
                    Verdict::Drop
                }
                Err(e) => {
                    self.c.ipip_dropped.inc();
                    debug!("IP-in-IP dropped: {e}");
                    Verdict::Drop
                }
            };
        }
        if let Some(d) = mip_datagram(inner) {
            let kind = (d.payload.first().copied(), d.payload.get(1).copied());
            if kind.0 == Some(MIP_REGISTRATION_REPLY) && *d.src.ip() == self.home_agent {
                debug!(target: "handover", step = "mn_reply_rx", "Registration Reply opened");
                let _ = self.tx.send(FromTunnel::Reply(d.payload.to_vec()));
                return Verdict::Taken;
            }
            if kind == (Some(MIP_EXPERIMENTAL), Some(SUBTYPE_RR_CHALLENGE)) {
                debug!(target: "handover", step = "mn_challenge_rx", "return-routability challenge opened");
                let _ = self.tx.send(FromTunnel::RrChallenge(d.src, d.payload.to_vec()));
                return Verdict::Taken;
            }
        }
        self.data(a);
        Verdict::Deliver(0..inner.len())
    }
}

#[derive(Debug, Default)]
struct Counters {
    sent: u64,
    send_errors: u64,
    resent_on_route: u64,
    handovers: u64,
    registrations: u64,
    denials: u64,
    bad_replies: u64,
    reestablishments: u64,
    base_exchanges: u64,
    base_exchange_failures: u64,
    /// Rekeys of the pair by HIP UPDATE (new SPIs and keys).
    rekeys: u64,
}

struct Mn {
    sec: MnSection,
    core: MobileNode,
    table: Arc<SaTable>,
    path: HostPath,
    hook: Arc<MnHook>,
    /// The current pair's SPIs; 0 (reserved, RFC 4303 §2.1) while there is
    /// none yet.
    spi_in: u32,
    spi_out: u32,
    /// Inbound SAs a rekey keeps beside the pair: the new one until the
    /// switch, the replaced one until it retires. They move with it.
    extra_in: Vec<u32>,
    generation: u32,
    /// Rekeys by UPDATE since the pair's base exchange.
    bundle_rekeys: u32,
    /// The SAs' outer address (inbound destination, outbound source).
    care_of: Option<Ipv4Addr>,
    candidates: HashMap<Ipv4Addr, u32>,
    /// None: static SAs.
    hip: Option<MnHip>,
    establishing: Option<Establishing>,
    attempts: u64,
    /// An inner packet that failed for want of a route; sealed and sent
    /// again on the next route event (a new address comes up before its
    /// default route). The flag: it is a Registration Request.
    unsent: Option<(Vec<u8>, bool)>,
    current: Option<(Instant, HandoverInfo)>,
    c: Counters,
    view: Arc<Mutex<VpnView>>,
}

pub async fn run(
    sec: MnSection,
    table: Arc<SaTable>,
    xsk: Option<XskOptions>,
    view: Arc<Mutex<VpnView>>,
    hip: Option<HipHandle>,
) -> anyhow::Result<()> {
    let key = mn_ha_key("[vpn.mn] mn_ha_key", sec.mn_ha_spi, sec.mn_ha_algorithm, &sec.mn_ha_key)
        .map_err(anyhow::Error::msg)?;
    let mut mc = MobileNodeConfig::new(sec.home, sec.home_agent, key);
    mc.lifetime = sec.lifetime;
    mc.initial_retransmit = Duration::from_millis(sec.retransmit_ms);
    mc.max_retransmissions = sec.max_retransmissions;
    let watcher = Watcher::open()?;
    let candidates: HashMap<Ipv4Addr, u32> = vpn_netlink::current_addresses()
        .into_iter()
        .filter(|(name, _, addr)| allowed(&sec, name, *addr))
        .map(|(_, idx, addr)| (addr, idx))
        .collect();
    let first = candidates.keys().min().copied();
    // The driver thread's wake-up: the receive worker's and the HIP
    // driver's messages signal it.
    let wake = Arc::new(Wake::new().context("eventfd")?);
    let (htx, mut hrx) = vpn_io::waking_channel(&wake);
    let static_pair = sec.static_pair().map_err(anyhow::Error::msg)?;
    let watch = Arc::new(RekeyWatch::default());
    let hip = match (sec.gateway_hit, hip) {
        (Some(gateway_hit), Some(handle)) => {
            let hook = hip_hook(Hit::from(gateway_hit), sec.gateway, table.clone(), watch.clone(), htx.clone());
            handle.set_event_hook(hook)?;
            Some(MnHip { handle, gateway_hit, local_hit: None, tx: htx })
        }
        (Some(_), None) => anyhow::bail!("[vpn.mn] gateway_hit needs a [hip] section"),
        (None, _) => None,
    };
    let (mut spi_in, mut spi_out) = (0, 0);
    if let Some(p) = &static_pair {
        // Until there is a care-of address the SAs' local address is unset.
        install_static(&table, p, first.unwrap_or(Ipv4Addr::UNSPECIFIED), sec.gateway)?;
        (spi_in, spi_out) = (p.spi_in, p.spi_out);
    }
    let (tx, mut rx) = vpn_io::waking_channel(&wake);
    let hook = Arc::new(MnHook {
        home_agent: sec.home_agent,
        tx,
        c: HookCounters::default(),
        want_first_data: AtomicBool::new(false),
        rekey: watch,
    });
    let path = vpn_esp::start_path(table.clone(), &sec.tun, vpn_io::TUN_MTU, hook.clone(), xsk.as_ref())?;
    vpn_io::tun_up(&sec.tun, Some(sec.home), vpn_io::TUN_MTU).await?;
    for r in &sec.routes {
        vpn_io::ip(&["route", "replace", &r.to_string(), "dev", &sec.tun, "src", &sec.home.to_string()]).await?;
    }
    let mut mn = Mn {
        core: MobileNode::new(mc),
        table,
        path,
        hook,
        spi_in,
        spi_out,
        extra_in: Vec::new(),
        generation: 0,
        bundle_rekeys: 0,
        care_of: None,
        candidates,
        hip,
        establishing: None,
        attempts: 0,
        unsent: None,
        current: None,
        c: Counters::default(),
        view,
        sec,
    };
    if let Some(first) = first {
        info!(care_of = %first, "initial care-of address");
        mn.care_of = Some(first);
        if mn.hip.is_some() {
            mn.establish(first);
        } else {
            mn.core.register(Instant::now(), now_ntp(), first);
            mn.drain();
        }
    } else {
        warn!("no care-of address yet: waiting for one");
    }
    info!(home = %mn.sec.home, gateway = %mn.sec.gateway, hip = mn.hip.is_some(), "mobile node ready");
    mn.refresh();

    // The handover runs on an OS thread of its own, like the gateway's
    // (vpn_gw/driver.rs): from the address event to the Registration
    // Request on the wire nothing waits for the tokio runtime, and with
    // `[scheduling] realtime_priority` the thread is SCHED_FIFO, so the
    // ESP threads (real-time too) cannot hold the request back.
    let rt = tokio::runtime::Handle::current();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("vpn-mn".into())
        .spawn(move || {
            crate::sched::enter("vpn-mn");
            // Spawned HIP calls (base exchanges, rekeys) are tokio tasks.
            let _rt = rt.enter();
            let _ = done_tx.send(mn.run_thread(&watcher, &wake, &mut rx, &mut hrx));
        })
        .context("starting the mobile node's driver thread")?;
    done_rx.await.context("mobile node driver thread gone")?
}

impl Mn {
    /// When the core (a Registration Request's retransmission) or a
    /// failed base exchange's retry wants the thread next.
    fn next_timer(&self) -> Option<Instant> {
        [self.core.poll_timeout(), self.establishing.as_ref().and_then(|r| r.next_retry)].into_iter().flatten().min()
    }

    /// The driver's loop; returns only on a netlink socket error.
    fn run_thread(
        &mut self,
        watcher: &Watcher,
        wake: &Wake,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<FromTunnel>,
        hrx: &mut tokio::sync::mpsc::UnboundedReceiver<keying::FromHip>,
    ) -> anyhow::Result<()> {
        let mut nbuf = vec![0u8; 16384];
        let mut next_tick = Instant::now() + TICK;
        loop {
            let due = self.next_timer().map_or(next_tick, |t| t.min(next_tick));
            let [net, msg] =
                poll_readable([watcher.raw_fd(), wake.raw_fd()], due.saturating_duration_since(Instant::now()));
            if msg {
                wake.ack();
            }
            if net {
                while let Some(events) = watcher.try_next(&mut nbuf).context("netlink")? {
                    for ev in events {
                        self.on_net(ev);
                    }
                }
                self.refresh();
            }
            while let Ok(m) = rx.try_recv() {
                self.on_tunnel(m);
            }
            let mut hip = false;
            while let Ok(m) = hrx.try_recv() {
                self.on_hip(m);
                hip = true;
            }
            if hip {
                self.refresh();
            }
            let now = Instant::now();
            if self.next_timer().is_some_and(|t| t <= now) {
                self.core.handle_timeout(now, now_ntp());
                self.drain();
                self.retry_base_exchange(now);
                self.refresh();
            }
            if now >= next_tick {
                next_tick = now + TICK;
                self.refresh();
            }
        }
    }
}

fn allowed(sec: &MnSection, ifname: &str, addr: Ipv4Addr) -> bool {
    if addr.is_loopback() || addr.is_unspecified() || addr == sec.home || ifname == sec.tun {
        return false;
    }
    sec.interfaces.is_empty() || sec.interfaces.iter().any(|i| i == ifname)
}

impl Mn {
    fn on_net(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::AddressAdded { ifindex, addr } => {
                let name = vpn_netlink::if_name(ifindex).unwrap_or_default();
                if !allowed(&self.sec, &name, addr) {
                    return;
                }
                self.candidates.insert(addr, ifindex);
                // The newest address wins: make-before-break when both exist.
                if self.care_of != Some(addr) {
                    self.handover(addr);
                }
            }
            NetEvent::AddressRemoved { addr, .. } => {
                self.candidates.remove(&addr);
                if self.care_of == Some(addr) {
                    match self.candidates.keys().min().copied() {
                        Some(next) => self.handover(next),
                        None => warn!(lost = %addr, "care-of address gone, no other: waiting for one"),
                    }
                }
            }
            NetEvent::RouteAdded => {
                if let Some((pkt, request)) = self.unsent.take() {
                    self.c.resent_on_route += 1;
                    if self.seal_send(&pkt, request) && request {
                        debug!(target: "handover", step = "mn_rrq_sent", "Registration Request sent (route up)");
                        self.mark(|h, ms| {
                            h.request_sent_ms.get_or_insert(ms);
                        });
                    }
                }
                if self.establishing.as_ref().is_some_and(|e| e.waiting_route) {
                    self.base_exchange();
                }
            }
        }
    }

    fn handover(&mut self, new: Ipv4Addr) {
        let t0 = Instant::now();
        self.c.handovers += 1;
        // No SAs yet, or a base exchange running: (re)start it from here.
        let fast = self.sec.fast_handover && self.establishing.is_none() && self.spi_out != 0;
        debug!(target: "handover", step = "mn_event", to = %new, fast, "care-of address event");
        let from = self.care_of;
        let h = HandoverInfo {
            home_address: self.sec.home,
            from: self.care_of,
            to: new,
            at_unix_ms: unix_ms(),
            kind: if fast { "fast" } else { "reestablished" }.into(),
            inbound_spi: self.spi_in,
            outbound_spi: self.spi_out,
            ..Default::default()
        };
        self.current = Some((t0, h));
        self.unsent = None;
        self.hook.want_first_data.store(true, Ordering::Relaxed);
        if fast {
            self.core.handle_care_of_address_change(t0, now_ntp(), new);
            self.drain();
        } else if self.spi_out == 0 {
            self.establish(new);
        } else {
            self.reestablish(new);
        }
        // The view and the log once the request is on its way.
        if let Some((_, h)) = &self.current {
            self.view.lock().unwrap_or_else(|e| e.into_inner()).push_history(h.clone());
        }
        info!(?from, to = %new, fast, "care-of address changed");
    }

    /// Updates the running handover record (in the view too); `at` is when
    /// the event happened.
    fn mark_at(&mut self, at: Instant, f: impl FnOnce(&mut HandoverInfo, f64)) {
        let Some((t0, h)) = &mut self.current else { return };
        f(h, at.saturating_duration_since(*t0).as_secs_f64() * 1e3);
        let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = v.history.last_mut()
            && last.at_unix_ms == h.at_unix_ms
            && last.to == h.to
        {
            *last = h.clone();
        }
    }

    fn mark(&mut self, f: impl FnOnce(&mut HandoverInfo, f64)) {
        self.mark_at(Instant::now(), f);
    }

    /// Both SAs follow the care-of address: the inbound SA's destination
    /// and the outbound SA's source (seed 004 step 1).
    fn move_sas(&mut self, care_of: Ipv4Addr) {
        if let Err(e) = vpn_esp::move_pair(&self.table, self.spi_out, self.spi_in, care_of, self.sec.gateway) {
            warn!(%care_of, "moving the SAs: {e:#}");
        }
        vpn_esp::move_inbound(&self.table, &self.extra_in, care_of, self.sec.gateway);
    }

    fn drain(&mut self) {
        while let Some(a) = self.core.poll_action() {
            match a {
                MnAction::UpdateSas { new_care_of_address } => {
                    self.care_of = Some(new_care_of_address);
                    self.move_sas(new_care_of_address);
                    debug!(target: "handover", step = "mn_sas_moved", "SAs moved");
                    self.mark(|h, ms| h.sas_updated_ms = Some(ms));
                }
                MnAction::Transmit { dst, payload } => {
                    let Some(coa) = self.care_of else { continue };
                    let Ok(d) = udp::build(SocketAddrV4::new(coa, MIP_PORT), dst, 64, &payload) else { continue };
                    let request = *dst.ip() == self.sec.home_agent;
                    let sent = self.seal_send(&d, request);
                    if !request {
                        debug!(target: "handover", step = "mn_echo_sent", sent, "return-routability echo");
                        continue;
                    }
                    let step = if sent { "mn_rrq_sent" } else { "mn_rrq_unsent" };
                    debug!(target: "handover", step, "Registration Request");
                    // Sent means on the wire: one that waits for a route
                    // is marked when it goes (RouteAdded).
                    self.mark(|h, ms| {
                        if h.request_sent_ms.is_some() {
                            h.retransmissions += 1;
                        } else if sent {
                            h.request_sent_ms = Some(ms);
                        }
                    });
                }
                MnAction::Registered { care_of_address, lifetime } => {
                    debug!(target: "handover", step = "mn_registered", "Registration Reply accepted");
                    self.c.registrations += 1;
                    // The HIP association that keyed the SAs follows them
                    // (`assoc list`, a later CLOSE or UPDATE rekey).
                    if let Some(h) = &self.hip
                        && let Err(e) =
                            h.handle.note_moved(Hit::from(h.gateway_hit), Some(care_of_address.into()), None)
                    {
                        warn!("HIP association not told about the move: {e:#}");
                    }
                    info!(care_of = %care_of_address, lifetime = lifetime.as_secs(), "registered with the home agent");
                    self.mark(|h, ms| {
                        if h.registered_ms.is_none() {
                            h.registered_ms = Some(ms);
                        }
                    });
                }
                MnAction::Denied { code } => {
                    self.c.denials += 1;
                    warn!(?code, "registration denied");
                }
                MnAction::ReestablishVpn { care_of_address } => {
                    warn!(care_of = %care_of_address, "no Registration Reply after all retries: re-establishing the VPN from scratch");
                    self.mark(|h, _| h.kind = "reestablished".into());
                    self.reestablish(care_of_address);
                }
            }
        }
    }

    fn on_tunnel(&mut self, m: FromTunnel) {
        match m {
            FromTunnel::Reply(payload) => {
                if let Err(e) = self.core.handle_reply(Instant::now(), now_ntp(), &payload) {
                    self.c.bad_replies += 1;
                    warn!("Registration Reply discarded: {e}");
                }
                self.drain();
                self.refresh();
            }
            FromTunnel::RrChallenge(src, payload) => {
                if let Err(e) = self.core.handle_rr_challenge(src, &payload) {
                    warn!("return-routability challenge: {e}");
                }
                self.drain();
            }
            FromTunnel::FirstData(at, local) => {
                let Some((_, h)) = &self.current else { return };
                if h.first_data_ms.is_some() {
                    return;
                }
                if local != IpAddr::V4(h.to) {
                    // Received before the move (still queued for the old
                    // address): not what the handover brought. Wait on.
                    self.hook.want_first_data.store(true, Ordering::Relaxed);
                    return;
                }
                debug!(target: "handover", step = "mn_first_data", "first data packet at the care-of address");
                self.mark_at(at, |h, ms| h.first_data_ms = Some(ms));
            }
            FromTunnel::FirstEspOn(spi) => self.first_esp_on(spi),
        }
    }

    /// Seal an inner packet of our own (Mobile IP) on the outbound SA;
    /// true when it went out. `request`: a Registration Request.
    fn seal_send(&mut self, inner: &[u8], request: bool) -> bool {
        match self.path.send_inner(self.spi_out, inner, None) {
            Ok(()) => {
                self.c.sent += 1;
                true
            }
            Err(e) => {
                self.c.send_errors += 1;
                debug!("sending through the tunnel: {e}");
                if let ControlSendError::Io(e) = &e
                    && matches!(e.raw_os_error(), Some(libc::ENETUNREACH | libc::EHOSTUNREACH))
                {
                    // Only the latest matters: a newer packet supersedes it.
                    self.unsent = Some((inner.to_vec(), request));
                }
                false
            }
        }
    }

    fn refresh(&self) {
        let c = &self.c;
        let h = &self.hook.c;
        let mut counters = crate::vpn_counters!(c; sent, send_errors, resent_on_route, handovers, registrations,
            denials, bad_replies, reestablishments, base_exchanges, base_exchange_failures, rekeys);
        for (name, v) in [
            ("esp_wrong_destination", &h.esp_wrong_destination),
            ("ipip_decapsulated", &h.ipip_decapsulated),
            ("ipip_dropped", &h.ipip_dropped),
        ] {
            counters.push(crate::vpn::view::VpnCounter { name: name.into(), value: v.get() });
        }
        let (packets_in, packets_out) = vpn_esp::packets(&self.table, self.spi_out, self.spi_in);
        let bundle = BundleInfo {
            home_address: self.sec.home,
            care_of_address: self.care_of,
            inbound_spi: self.spi_in,
            outbound_spi: self.spi_out,
            packets_in,
            packets_out,
            generation: self.generation,
            rekeys: self.bundle_rekeys,
        };
        let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
        v.role = "mn";
        v.bundles = vec![bundle];
        v.counters = counters;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxy_proto::vpn::ipip::{EncapParams, encapsulate};

    const HA: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
    const COA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 23);
    const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn hook() -> (MnHook, tokio::sync::mpsc::UnboundedReceiver<FromTunnel>) {
        let (tx, rx) = vpn_io::waking_channel(&Arc::new(Wake::new().unwrap()));
        let h = MnHook {
            home_agent: HA,
            tx,
            c: HookCounters::default(),
            want_first_data: AtomicBool::new(true),
            rekey: Arc::default(),
        };
        (h, rx)
    }

    fn arrival(dst: Ipv4Addr) -> Arrival {
        Arrival { spi: 8192, src: GW.into(), dst: Some(dst.into()), local: COA.into(), peer: GW.into() }
    }

    fn udp(src: Ipv4Addr, dst: Ipv4Addr, port: u16, payload: &[u8]) -> Vec<u8> {
        udp::build(SocketAddrV4::new(src, port), SocketAddrV4::new(dst, port), 64, payload).unwrap()
    }

    #[test]
    fn only_at_the_current_care_of_address() {
        let (h, _rx) = hook();
        assert!(h.before_open(&arrival(COA)));
        assert!(!h.before_open(&arrival(Ipv4Addr::new(203, 0, 113, 23))));
        assert_eq!(h.c.esp_wrong_destination.get(), 1);
    }

    #[test]
    fn ipip_from_the_home_agent_is_stripped_and_reports_first_data() {
        let (h, mut rx) = hook();
        let data = udp(Ipv4Addr::new(10, 1, 1, 10), Ipv4Addr::new(10, 2, 0, 5), 5000, b"hello");
        let mut out = vec![0u8; 200];
        let p = EncapParams { src: HA, dst: COA, ttl: 64, ident: 1, forwarding: false };
        let n = encapsulate(&data, &p, &mut out).unwrap();
        assert_eq!(h.opened(&arrival(COA), &out[..n]), Verdict::Deliver(20..n));
        assert_eq!(&out[20..n], &data[..]);
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::FirstData(_, l)) if l == IpAddr::V4(COA)));
        // Only once per handover.
        h.opened(&arrival(COA), &out[..n]);
        assert!(rx.try_recv().is_err());
        // From anyone else: dropped.
        let p = EncapParams { src: Ipv4Addr::new(10, 1, 0, 9), ..p };
        let n = encapsulate(&data, &p, &mut out).unwrap();
        assert_eq!(h.opened(&arrival(COA), &out[..n]), Verdict::Drop);
        assert_eq!((h.c.ipip_decapsulated.get(), h.c.ipip_dropped.get()), (2, 1));
    }

    #[test]
    fn replies_and_challenges_go_to_the_driver_data_to_the_tun() {
        let (h, mut rx) = hook();
        let reply = udp(HA, COA, MIP_PORT, &[MIP_REGISTRATION_REPLY, 0, 0, 0]);
        assert_eq!(h.opened(&arrival(COA), &reply), Verdict::Taken);
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::Reply(p)) if p == [MIP_REGISTRATION_REPLY, 0, 0, 0]));
        let challenge = udp(Ipv4Addr::new(10, 1, 0, 254), COA, MIP_PORT, &[MIP_EXPERIMENTAL, SUBTYPE_RR_CHALLENGE]);
        assert_eq!(h.opened(&arrival(COA), &challenge), Verdict::Taken);
        assert!(matches!(rx.try_recv(), Ok(FromTunnel::RrChallenge(..))));
        // A "reply" from someone else is just a packet.
        let forged = udp(Ipv4Addr::new(10, 1, 0, 9), COA, MIP_PORT, &[MIP_REGISTRATION_REPLY, 0]);
        assert_eq!(h.opened(&arrival(COA), &forged), Verdict::Deliver(0..forged.len()));
        let data = udp(HA, COA, 53, b"x");
        assert_eq!(h.opened(&arrival(COA), &data), Verdict::Deliver(0..data.len()));
        assert!(mip_datagram(&[0x45]).is_none());
    }
}
