//! The home agent role: Mobile IPv4 registrations on UDP 434 through the
//! sans-IO `HomeAgent`, SIUs to the VPN gateway, and delivery of the home
//! addresses' traffic to the care-of address in IP-in-IP (RFC 2003).
//!
//! Encapsulation (outer source = the HA, destination = the binding's
//! care-of address, RFC 2003 §3.1), two ways:
//! - `encap_dev` set: in eBPF, `tc_ipip_encap` on TC egress of that
//!   interface reads the bindings this driver mirrors into `IPIP_BINDINGS`;
//! - otherwise in userspace: the home prefix is routed into a TUN device,
//!   the driver wraps each packet and sends it as its own.

use std::{
    collections::HashMap,
    io::ErrorKind,
    net::{Ipv4Addr, SocketAddrV4},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use anyhow::Context;
use proxy_proto::vpn::{
    home_agent::{HaTransmit, HomeAgent, HomeAgentConfig},
    ipip::{self, EncapParams},
    request::MIP_PORT,
    siu::SiuKey,
};
use tracing::{debug, info, warn};

use super::{
    vpn_esp::Count,
    vpn_io::{self, Tun, now_ntp},
};
use crate::vpn::{
    config::{HaSection, hex_key, mn_ha_key},
    view::{BindingInfo, VpnCounter, VpnView},
};

/// The userspace IP-in-IP path's counters (a tokio task bumps them, the
/// registration thread shows them).
#[derive(Debug, Default)]
struct Counters {
    ipip_encapsulated: Count,
    ipip_no_binding: Count,
    ipip_errors: Count,
    send_errors: Count,
}

/// What the registration thread shares with the userspace IP-in-IP path:
/// home address -> care-of address, copied from the binding cache after
/// every change (the per-packet path never waits for a registration).
#[derive(Default)]
struct Shared {
    bindings: RwLock<HashMap<Ipv4Addr, Ipv4Addr>>,
    c: Counters,
}

/// How often the binding cache expires entries (and the view refreshes)
/// when no request comes.
const TICK: Duration = Duration::from_secs(1);

pub async fn run(sec: HaSection, view: Arc<Mutex<VpnView>>) -> anyhow::Result<()> {
    let mut cfg = HomeAgentConfig::new(sec.address);
    cfg.max_lifetime = sec.max_lifetime;
    let mut ha = HomeAgent::new(cfg);
    for n in &sec.nodes {
        ha.add_mobile_node(
            n.home,
            mn_ha_key("[vpn.ha.node] key", n.spi, n.algorithm, &n.key).map_err(anyhow::Error::msg)?,
        );
    }
    let first_sequence = now_ntp();
    for g in &sec.gateways {
        let key = hex_key("[vpn.ha.gateway] siu_key", &g.siu_key).map_err(anyhow::Error::msg)?;
        ha.add_gateway(g.inner, SiuKey::new(g.siu_key_id, &key), first_sequence);
    }
    let (tun, ebpf) = match &sec.encap_dev {
        Some(dev) => {
            let e = crate::datapath::ipip::IpipEncap::attach(dev)?;
            let via = gateway_inner(&sec)?.to_string();
            vpn_io::ip(&["route", "replace", &sec.home_prefix.to_string(), "via", &via, "dev", dev]).await?;
            // IP-in-IP adds 20 bytes: keep the home prefix's packets within
            // what the GW's tunnel carries (PMTU discovery toward senders).
            let mtu = vpn_io::TUN_MTU.to_string();
            vpn_io::ip(&["route", "replace", &sec.home_prefix.to_string(), "via", &via, "dev", dev, "mtu", &mtu])
                .await?;
            info!(%dev, "IP-in-IP encapsulation in eBPF (TC egress)");
            (None, Some(e))
        }
        None => {
            let tun = Tun::open(&sec.tun)?;
            vpn_io::tun_up(&tun.name, None, vpn_io::TUN_MTU).await?;
            vpn_io::ip(&["route", "replace", &sec.home_prefix.to_string(), "dev", &tun.name]).await?;
            (Some(tun), None)
        }
    };
    vpn_io::sysctl_v4("ip_forward", "1")?;
    let raw = vpn_io::RawSender::open()?;
    // A blocking socket on a thread of its own: the request wakes that
    // thread directly (~70 us here), not the tokio reactor and then a
    // worker (150-200 us measured on the handover's critical path).
    let sock =
        std::net::UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, MIP_PORT)).context("binding UDP 434")?;
    sock.set_read_timeout(Some(TICK)).context("UDP 434 read timeout")?;
    info!(address = %sec.address, ebpf = ebpf.is_some(), "home agent ready");
    let shared = Arc::new(Shared::default());
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let reg = Registrations { ha, sec: sec.clone(), ebpf, shared: shared.clone(), view };
    std::thread::Builder::new()
        .name("vpn-ha".into())
        .spawn(move || {
            crate::sched::enter("vpn-ha");
            let _ = done_tx.send(reg.run(&sock));
        })
        .context("starting the home agent's registration thread")?;
    match tun {
        Some(tun) => tokio::select! {
            r = done_rx => r.context("registration thread gone")?,
            r = userspace_ipip(&tun, &raw, sec.address, &shared) => r,
        },
        None => done_rx.await.context("registration thread gone")?,
    }
}

/// The home prefix's packets from the TUN device, wrapped in IP-in-IP to
/// their binding's care-of address (RFC 2003 §3.1) and sent as our own.
async fn userspace_ipip(
    tun: &Tun,
    raw: &vpn_io::RawSender,
    ha_address: Ipv4Addr,
    shared: &Shared,
) -> anyhow::Result<()> {
    let (mut pkt, mut out) = (vec![0u8; 65536], vec![0u8; 65536]);
    let c = &shared.c;
    let mut ident: u16 = 0;
    loop {
        let n = tun.recv(&mut pkt).await?;
        let Ok(p) = proxy_proto::vpn::ipv4::Packet::new_checked(&pkt[..n]) else { continue };
        let dst = p.dst_addr();
        let Some(care_of) = shared.bindings.read().unwrap_or_else(|e| e.into_inner()).get(&dst).copied() else {
            c.ipip_no_binding.inc();
            debug!(%dst, "no binding: dropped");
            continue;
        };
        ident = ident.wrapping_add(1);
        // The kernel decremented the TTL routing it into the TUN device.
        let p = EncapParams { src: ha_address, dst: care_of, ttl: 64, ident, forwarding: false };
        match ipip::encapsulate(&pkt[..n], &p, &mut out) {
            Ok(len) => {
                c.ipip_encapsulated.inc();
                // Sent as our own packet: written back into the TUN
                // device it would carry a local source (martian).
                if raw.send(&out[..len], care_of).is_err() {
                    c.send_errors.inc();
                }
            }
            Err(_) => c.ipip_errors.inc(),
        }
    }
}

/// The registration thread: owns the `HomeAgent` core and the eBPF map.
struct Registrations {
    ha: HomeAgent,
    sec: HaSection,
    ebpf: Option<crate::datapath::ipip::IpipEncap>,
    shared: Arc<Shared>,
    view: Arc<Mutex<VpnView>>,
}

impl Registrations {
    fn run(mut self, sock: &std::net::UdpSocket) -> anyhow::Result<()> {
        let gateway = self.sec.gateways.first().map(|g| g.inner);
        let mut buf = vec![0u8; 65536];
        let mut next_tick = Instant::now() + TICK;
        loop {
            match sock.recv_from(&mut buf) {
                Ok((n, std::net::SocketAddr::V4(src))) => {
                    debug!(target: "handover", step = "ha_rrq_rx", "Registration Request received");
                    // Came through the VPN gateway unless from inside the private network.
                    let via =
                        if self.sec.private.iter().any(|p| p.contains((*src.ip()).into())) { None } else { gateway };
                    self.on_request(sock, src, via, &buf[..n]);
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => return Err(e).context("UDP 434"),
            }
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + TICK;
                self.ha.handle_timeout(Instant::now());
                self.sync_bindings();
                self.refresh();
            }
        }
    }

    fn on_request(&mut self, sock: &std::net::UdpSocket, src: SocketAddrV4, via: Option<Ipv4Addr>, payload: &[u8]) {
        let r = self.ha.handle_request(Instant::now(), now_ntp(), src, via, payload);
        // The binding goes into the IP-in-IP map before the SIU leaves
        // (RFC 5944 §3.8: the binding is updated, then the reply sent):
        // the data for the new care-of address that reaches the gateway
        // before the SIU is held there until the SA moves, not sent to the
        // old address, which the MN has left. The log comes last: all of
        // this is on the handover's critical path.
        self.sync_bindings();
        debug!(target: "handover", step = "ha_binding_set", "binding in the IP-in-IP map");
        while let Some(t) = self.ha.poll_transmit() {
            let (dst, payload) = match &t {
                HaTransmit::Reply { dst, payload } | HaTransmit::Siu { dst, payload } => (*dst, payload),
            };
            if let Err(e) = sock.send_to(payload, dst) {
                self.shared.c.send_errors.inc();
                warn!(%dst, "send: {e}");
            }
            let step = if matches!(t, HaTransmit::Siu { .. }) { "ha_siu_sent" } else { "ha_reply_sent" };
            debug!(target: "handover", step, "sent");
        }
        match r {
            Ok(_) => info!(%src, via = ?via, "registration accepted"),
            Err(e) => warn!(%src, "registration refused: {e}"),
        }
        self.refresh();
    }

    /// Mirrors the binding cache into the eBPF map (or the userspace
    /// path's copy).
    fn sync_bindings(&mut self) {
        match self.ebpf.as_mut() {
            Some(e) => {
                for n in &self.sec.nodes {
                    match self.ha.binding(n.home) {
                        Some(b) => {
                            if let Err(err) = e.set(n.home, self.sec.address, b.care_of_address) {
                                warn!(home = %n.home, "IP-in-IP binding not installed: {err:#}");
                            }
                        }
                        None => e.remove(n.home),
                    }
                }
            }
            None => {
                let now: HashMap<Ipv4Addr, Ipv4Addr> = self
                    .sec
                    .nodes
                    .iter()
                    .filter_map(|n| self.ha.binding(n.home).map(|b| (n.home, b.care_of_address)))
                    .collect();
                *self.shared.bindings.write().unwrap_or_else(|e| e.into_inner()) = now;
            }
        }
    }

    fn refresh(&self) {
        let (ha, sec) = (&self.ha, &self.sec);
        let now = Instant::now();
        let bindings = sec
            .nodes
            .iter()
            .filter_map(|n| {
                ha.binding(n.home).map(|b| BindingInfo {
                    home_address: n.home,
                    care_of_address: b.care_of_address,
                    lifetime: b.lifetime,
                    remaining_secs: b.expires_at.map(|t| t.saturating_duration_since(now).as_secs()),
                    via_gateway: b.via_gateway,
                })
            })
            .collect();
        let hc = ha.counters();
        let mut counters = crate::vpn_counters!(hc; accepted, deregistered, malformed, unknown_home_address,
            authentication_failed, identification_mismatch, unknown_home_agent_address, unknown_gateway, siu_sent,
            direct_replies, bindings_expired);
        let c = &self.shared.c;
        for (name, v) in [
            ("ipip_encapsulated", &c.ipip_encapsulated),
            ("ipip_no_binding", &c.ipip_no_binding),
            ("ipip_errors", &c.ipip_errors),
            ("send_errors", &c.send_errors),
        ] {
            counters.push(VpnCounter { name: name.into(), value: v.get() });
        }
        if let Some(e) = &self.ebpf {
            let [enc, adj, bad] = e.counters();
            for (name, value) in
                [("ebpf_ipip_encapsulated", enc), ("ebpf_drop_adjust_room", adj), ("ebpf_drop_malformed", bad)]
            {
                counters.push(VpnCounter { name: name.into(), value });
            }
        }
        let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
        v.role = "ha";
        v.bindings = bindings;
        v.counters = counters;
    }
}

fn gateway_inner(sec: &HaSection) -> anyhow::Result<Ipv4Addr> {
    sec.gateways.first().map(|g| g.inner).context("[vpn.ha] encap_dev needs a [[vpn.ha.gateway]] (the next hop)")
}
