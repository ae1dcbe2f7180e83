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
    net::{Ipv4Addr, SocketAddrV4},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use proxy_proto::vpn::{
    home_agent::{HaTransmit, HomeAgent, HomeAgentConfig},
    ipip::{self, EncapParams},
    request::MIP_PORT,
    siu::SiuKey,
};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::vpn_io::{self, Tun, now_ntp};
use crate::vpn::{
    config::{HaSection, hex_key, mn_ha_key},
    view::{BindingInfo, VpnView},
};

#[derive(Debug, Default)]
struct Counters {
    ipip_encapsulated: u64,
    ipip_no_binding: u64,
    ipip_errors: u64,
    send_errors: u64,
}

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
    let (tun, mut ebpf) = match &sec.encap_dev {
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
    let sock = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, MIP_PORT)).await.context("binding UDP 434")?;
    info!(address = %sec.address, ebpf = ebpf.is_some(), "home agent ready");
    let gateway = sec.gateways.first().map(|g| g.inner);
    let private = sec.private.clone();

    let mut c = Counters::default();
    let (mut buf, mut pkt, mut out) = (vec![0u8; 65536], vec![0u8; 65536], vec![0u8; 65536]);
    let mut ident: u16 = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let (n, src) = r?;
                let std::net::SocketAddr::V4(src) = src else { continue };
                debug!(target: "handover", step = "ha_rrq_rx", "Registration Request received");
                // Came through the VPN gateway unless from inside the private network.
                let via = if private.iter().any(|p| p.contains((*src.ip()).into())) { None } else { gateway };
                let r = ha.handle_request(Instant::now(), now_ntp(), src, via, &buf[..n]);
                // The SIU (or reply) first, the log after: it is on the
                // handover's critical path.
                while let Some(t) = ha.poll_transmit() {
                    let (dst, payload) = match &t {
                        HaTransmit::Reply { dst, payload } | HaTransmit::Siu { dst, payload } => (*dst, payload),
                    };
                    if let Err(e) = sock.send_to(payload, dst).await {
                        c.send_errors += 1;
                        warn!(%dst, "send: {e}");
                    }
                    let step = if matches!(t, HaTransmit::Siu { .. }) { "ha_siu_sent" } else { "ha_reply_sent" };
                    debug!(target: "handover", step, "sent");
                }
                sync_ebpf(&ha, &sec, ebpf.as_mut());
                debug!(target: "handover", step = "ha_binding_set", "binding in the IP-in-IP map");
                match r {
                    Ok(_) => info!(%src, via = ?via, "registration accepted"),
                    Err(e) => warn!(%src, "registration refused: {e}"),
                }
                refresh(&ha, &sec, &c, ebpf.as_ref(), &view);
            }
            r = recv_opt(tun.as_ref(), &mut pkt) => {
                let n = r?;
                let Ok(p) = proxy_proto::vpn::ipv4::Packet::new_checked(&pkt[..n]) else { continue };
                let dst = p.dst_addr();
                let Some(b) = ha.binding(dst) else {
                    c.ipip_no_binding += 1;
                    debug!(%dst, "no binding: dropped");
                    continue;
                };
                ident = ident.wrapping_add(1);
                // The kernel decremented the TTL routing it into the TUN device.
                let p = EncapParams { src: sec.address, dst: b.care_of_address, ttl: 64, ident, forwarding: false };
                match ipip::encapsulate(&pkt[..n], &p, &mut out) {
                    Ok(len) => {
                        c.ipip_encapsulated += 1;
                        // Sent as our own packet: written back into the TUN
                        // device it would carry a local source (martian).
                        if raw.send(&out[..len], b.care_of_address).is_err() {
                            c.send_errors += 1;
                        }
                    }
                    Err(_) => c.ipip_errors += 1,
                }
            }
            _ = tick.tick() => {
                ha.handle_timeout(Instant::now());
                sync_ebpf(&ha, &sec, ebpf.as_mut());
                refresh(&ha, &sec, &c, ebpf.as_ref(), &view);
            }
        }
    }
}

fn gateway_inner(sec: &HaSection) -> anyhow::Result<Ipv4Addr> {
    sec.gateways.first().map(|g| g.inner).context("[vpn.ha] encap_dev needs a [[vpn.ha.gateway]] (the next hop)")
}

async fn recv_opt(tun: Option<&Tun>, buf: &mut [u8]) -> std::io::Result<usize> {
    match tun {
        Some(t) => t.recv(buf).await,
        None => std::future::pending().await,
    }
}

/// Mirrors the binding cache into the eBPF map.
fn sync_ebpf(ha: &HomeAgent, sec: &HaSection, ebpf: Option<&mut crate::datapath::ipip::IpipEncap>) {
    let Some(e) = ebpf else { return };
    for n in &sec.nodes {
        match ha.binding(n.home) {
            Some(b) => {
                if let Err(err) = e.set(n.home, sec.address, b.care_of_address) {
                    warn!(home = %n.home, "IP-in-IP binding not installed: {err:#}");
                }
            }
            None => e.remove(n.home),
        }
    }
}

fn refresh(
    ha: &HomeAgent,
    sec: &HaSection,
    c: &Counters,
    ebpf: Option<&crate::datapath::ipip::IpipEncap>,
    view: &Mutex<VpnView>,
) {
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
    counters.extend(crate::vpn_counters!(c; ipip_encapsulated, ipip_no_binding, ipip_errors, send_errors));
    if let Some(e) = ebpf {
        let [enc, adj, bad] = e.counters();
        for (name, value) in
            [("ebpf_ipip_encapsulated", enc), ("ebpf_drop_adjust_room", adj), ("ebpf_drop_malformed", bad)]
        {
            counters.push(crate::vpn::view::VpnCounter { name: name.into(), value });
        }
    }
    let mut v = view.lock().unwrap_or_else(|e| e.into_inner());
    v.role = "ha";
    v.bindings = bindings;
    v.counters = counters;
}
