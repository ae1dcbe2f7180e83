//! The mobile node role: an ESP tunnel-mode VPN to the gateway on a TUN
//! device carrying the home address, Mobile IPv4 registration through the
//! sans-IO `MobileNode`, and the handover: on an rtnetlink address event the
//! SAs' outer addresses move at once (no re-keying), the Registration
//! Request goes through the tunnel, retransmissions back off, and as a
//! last resort the VPN is re-established with fresh SAs.
//!
//! IP-in-IP from the home agent is decapsulated here, in the tunnel engine,
//! right after ESP: the packet is already in userspace, so stripping 20
//! bytes costs nothing, whereas an eBPF program on the TUN device would see
//! only what we write into it anyway.

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddrV4},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use proxy_proto::{
    esp::EspCipher,
    vpn::{
        ipip,
        mobile_node::{MnAction, MobileNode, MobileNodeConfig},
        reestablish::{Initiator, NONCE_LEN},
        request::MIP_PORT,
        udp,
    },
};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::{
    vpn_io::{self, EspSocket, Tun, fill_random, now_ntp, unix_ms},
    vpn_netlink::{self, NetEvent, Watcher},
    vpn_tunnel::{SaPair, inner_summary, outer},
};
use crate::vpn::{
    config::{MnSection, TRANSFORM, esp_cipher, hex_key, mn_ha_key},
    view::{BundleInfo, HandoverInfo, VpnView},
};

const MIP_REGISTRATION_REPLY: u8 = 3;
const MIP_EXPERIMENTAL: u8 = 255;
const SUBTYPE_RR_CHALLENGE: u8 = 2;
const IPPROTO_IPIP: u8 = 4;
/// Re-establishment Init retransmission interval.
const REESTABLISH_RETRY: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct Counters {
    esp_received: u64,
    esp_wrong_destination: u64,
    esp_dropped: u64,
    ipip_decapsulated: u64,
    ipip_dropped: u64,
    tun_no_care_of_address: u64,
    sent: u64,
    send_errors: u64,
    resent_on_route: u64,
    handovers: u64,
    registrations: u64,
    denials: u64,
    bad_replies: u64,
    reestablishments: u64,
    reestablish_bad_responses: u64,
}

struct Reestablishing {
    init: Initiator,
    bytes: Vec<u8>,
    care_of: Ipv4Addr,
    next_retry: Instant,
    /// The last Init found no route: send again on the next route event.
    unsent: bool,
}

struct Mn {
    sec: MnSection,
    core: MobileNode,
    sas: SaPair,
    generation: u32,
    /// The SAs' outer address (inbound destination, outbound source).
    care_of: Option<Ipv4Addr>,
    candidates: HashMap<Ipv4Addr, u32>,
    tun: Tun,
    esp: EspSocket,
    re_sock: UdpSocket,
    reestablishing: Option<Reestablishing>,
    /// An ESP packet that failed for want of a route; resent on the next
    /// route event (a new address comes up before its default route).
    unsent: Option<Vec<u8>>,
    current: Option<(Instant, HandoverInfo)>,
    c: Counters,
    out: Vec<u8>,
    view: Arc<Mutex<VpnView>>,
}

pub async fn run(sec: MnSection, view: Arc<Mutex<VpnView>>) -> anyhow::Result<()> {
    let key = mn_ha_key("[vpn.mn] mn_ha_key", sec.mn_ha_spi, sec.mn_ha_algorithm, &sec.mn_ha_key)
        .map_err(anyhow::Error::msg)?;
    let mut mc = MobileNodeConfig::new(sec.home, sec.home_agent, key);
    mc.lifetime = sec.lifetime;
    mc.initial_retransmit = Duration::from_millis(sec.retransmit_ms);
    mc.max_retransmissions = sec.max_retransmissions;
    let e = |k: &str, v: &str| esp_cipher(k, v).map_err(anyhow::Error::msg);
    let sas = SaPair::new(sec.spi_out, e("key_out", &sec.key_out)?, sec.spi_in, e("key_in", &sec.key_in)?);
    let watcher = Watcher::open()?;
    let tun = Tun::open(&sec.tun)?;
    vpn_io::tun_up(&tun.name, Some(sec.home), vpn_io::TUN_MTU).await?;
    for r in &sec.routes {
        vpn_io::ip(&["route", "replace", &r.to_string(), "dev", &tun.name, "src", &sec.home.to_string()]).await?;
    }
    let mut mn = Mn {
        core: MobileNode::new(mc),
        sas,
        generation: 0,
        care_of: None,
        candidates: HashMap::new(),
        tun,
        esp: EspSocket::open()?,
        re_sock: UdpSocket::bind("0.0.0.0:0").await?,
        reestablishing: None,
        unsent: None,
        current: None,
        c: Counters::default(),
        out: Vec::with_capacity(2048),
        view,
        sec,
    };
    for (name, idx, addr) in vpn_netlink::current_addresses() {
        if mn.allowed(&name, addr) {
            mn.candidates.insert(addr, idx);
        }
    }
    if let Some(&first) = mn.candidates.keys().min() {
        info!(care_of = %first, "initial care-of address");
        mn.care_of = Some(first);
        mn.core.register(Instant::now(), now_ntp(), first);
        mn.drain();
    } else {
        warn!("no care-of address yet: waiting for one");
    }
    info!(home = %mn.sec.home, gateway = %mn.sec.gateway, "mobile node ready");
    mn.refresh();

    let (mut nbuf, mut ebuf, mut tbuf, mut ubuf) =
        (vec![0u8; 16384], vec![0u8; 65536], vec![0u8; 65536], vec![0u8; 256]);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let timer =
            [mn.core.poll_timeout(), mn.reestablishing.as_ref().map(|r| r.next_retry)].into_iter().flatten().min();
        let sleep = async {
            match timer {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = watcher.next(&mut nbuf) => {
                for ev in r? {
                    mn.on_net(ev);
                }
                mn.refresh();
            }
            r = mn.esp.recv(&mut ebuf) => {
                let n = r?;
                mn.on_esp(&mut ebuf[..n]);
            }
            r = mn.tun.recv(&mut tbuf) => {
                let n = r?;
                mn.on_tun(&tbuf[..n]);
            }
            r = mn.re_sock.recv_from(&mut ubuf) => {
                let (n, _) = r?;
                mn.on_reestablish_response(&ubuf[..n]);
                mn.refresh();
            }
            _ = tick.tick() => mn.refresh(),
            _ = sleep => {
                let now = Instant::now();
                mn.core.handle_timeout(now, now_ntp());
                mn.drain();
                mn.retry_reestablish(now);
                mn.refresh();
            }
        }
    }
}

impl Mn {
    fn allowed(&self, ifname: &str, addr: Ipv4Addr) -> bool {
        if addr.is_loopback() || addr.is_unspecified() || addr == self.sec.home || ifname == self.tun.name {
            return false;
        }
        self.sec.interfaces.is_empty() || self.sec.interfaces.iter().any(|i| i == ifname)
    }

    fn on_net(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::AddressAdded { ifindex, addr } => {
                let name = vpn_netlink::if_name(ifindex).unwrap_or_default();
                if !self.allowed(&name, addr) {
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
                if let Some(pkt) = self.unsent.take() {
                    self.c.resent_on_route += 1;
                    self.send_esp(pkt);
                }
                if let Some(r) = &mut self.reestablishing
                    && r.unsent
                {
                    self.c.resent_on_route += 1;
                    r.next_retry = Instant::now();
                    self.retry_reestablish(Instant::now());
                }
            }
        }
    }

    fn handover(&mut self, new: Ipv4Addr) {
        let t0 = Instant::now();
        self.c.handovers += 1;
        let fast = self.sec.fast_handover && self.reestablishing.is_none();
        info!(from = ?self.care_of, to = %new, fast, "care-of address changed");
        let h = HandoverInfo {
            home_address: self.sec.home,
            from: self.care_of,
            to: new,
            at_unix_ms: unix_ms(),
            kind: if fast { "fast" } else { "reestablished" }.into(),
            inbound_spi: self.sas.inbound.spi(),
            outbound_spi: self.sas.outbound.spi(),
            ..Default::default()
        };
        self.push_history(t0, h);
        self.unsent = None;
        if fast {
            self.core.handle_care_of_address_change(t0, now_ntp(), new);
            self.drain();
        } else {
            self.start_reestablish(new);
        }
    }

    fn push_history(&mut self, t0: Instant, h: HandoverInfo) {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).push_history(h.clone());
        self.current = Some((t0, h));
    }

    /// Updates the running handover record (in the view too).
    fn mark(&mut self, f: impl FnOnce(&mut HandoverInfo, f64)) {
        let Some((t0, h)) = &mut self.current else { return };
        f(h, t0.elapsed().as_secs_f64() * 1e3);
        let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = v.history.last_mut()
            && last.at_unix_ms == h.at_unix_ms
            && last.to == h.to
        {
            *last = h.clone();
        }
    }

    fn drain(&mut self) {
        while let Some(a) = self.core.poll_action() {
            match a {
                MnAction::UpdateSas { new_care_of_address } => {
                    // Inbound SA destination and outbound SA source both
                    // follow: they are the outer addresses we check and write.
                    self.care_of = Some(new_care_of_address);
                    self.mark(|h, ms| h.sas_updated_ms = Some(ms));
                }
                MnAction::Transmit { dst, payload } => {
                    let Some(coa) = self.care_of else { continue };
                    let Ok(d) = udp::build(SocketAddrV4::new(coa, MIP_PORT), dst, 64, &payload) else { continue };
                    self.seal_send(&d);
                    if *dst.ip() != self.sec.home_agent {
                        continue;
                    }
                    self.mark(|h, ms| {
                        if h.request_sent_ms.is_none() {
                            h.request_sent_ms = Some(ms);
                        } else {
                            h.retransmissions += 1;
                        }
                    });
                }
                MnAction::Registered { care_of_address, lifetime } => {
                    self.c.registrations += 1;
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
                    self.start_reestablish(care_of_address);
                }
            }
        }
    }

    fn start_reestablish(&mut self, care_of: Ipv4Addr) {
        self.c.reestablishments += 1;
        self.care_of = Some(care_of);
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let psk = hex_key("psk", &self.sec.psk).unwrap_or_default();
        let (init, bytes) = Initiator::start(&psk, self.sec.home, now_ntp(), vpn_io::random_spi(), nonce);
        self.reestablishing = Some(Reestablishing { init, bytes, care_of, next_retry: Instant::now(), unsent: false });
        self.retry_reestablish(Instant::now());
    }

    fn retry_reestablish(&mut self, now: Instant) {
        let Some(r) = &mut self.reestablishing else { return };
        if r.next_retry > now {
            return;
        }
        r.next_retry = now + REESTABLISH_RETRY;
        let dst = SocketAddrV4::new(self.sec.gateway, self.sec.reestablish_port);
        r.unsent = false;
        if let Err(e) = self.re_sock.try_send_to(&r.bytes, dst.into()) {
            r.unsent = matches!(e.raw_os_error(), Some(libc::ENETUNREACH | libc::EHOSTUNREACH));
            debug!("re-establishment Init: {e}");
        }
    }

    fn on_reestablish_response(&mut self, b: &[u8]) {
        let Some(r) = &self.reestablishing else { return };
        let sas = match r.init.handle_response(b) {
            Ok(s) => s,
            Err(e) => {
                self.c.reestablish_bad_responses += 1;
                warn!("re-establishment response: {e}");
                return;
            }
        };
        let care_of = r.care_of;
        self.reestablishing = None;
        let (Ok(out), Ok(inb)) =
            (EspCipher::new(TRANSFORM, &sas.keymat_mn_to_gw), EspCipher::new(TRANSFORM, &sas.keymat_gw_to_mn))
        else {
            return;
        };
        self.sas = SaPair::new(sas.spi_mn_to_gw, out, sas.spi_gw_to_mn, inb);
        self.generation += 1;
        info!(care_of = %care_of, spi_in = sas.spi_gw_to_mn, spi_out = sas.spi_mn_to_gw, "VPN re-established with new SAs");
        self.mark(|h, _| {
            h.inbound_spi = sas.spi_gw_to_mn;
            h.outbound_spi = sas.spi_mn_to_gw;
        });
        self.care_of = Some(care_of);
        self.core.register(Instant::now(), now_ntp(), care_of);
        self.drain();
    }

    fn on_tun(&mut self, pkt: &[u8]) {
        if pkt.first().is_none_or(|b| b >> 4 != 4) {
            // The VPN carries IPv4 (Mobile IPv4); IPv6 is off on the device.
            return;
        }
        if self.care_of.is_none() || self.reestablishing.is_some() {
            self.c.tun_no_care_of_address += 1;
            return;
        }
        self.seal_send(pkt);
    }

    fn seal_send(&mut self, inner: &[u8]) {
        let Some(coa) = self.care_of else { return };
        let mut out = std::mem::take(&mut self.out);
        if self.sas.seal(inner, coa, self.sec.gateway, &mut out).is_ok() {
            self.send_esp_ref(&out);
        } else {
            self.c.send_errors += 1;
        }
        self.out = out;
    }

    fn send_esp(&mut self, pkt: Vec<u8>) {
        self.send_esp_ref(&pkt);
    }

    fn send_esp_ref(&mut self, pkt: &[u8]) {
        match self.esp.send(pkt, self.sec.gateway) {
            Ok(_) => self.c.sent += 1,
            Err(e) => {
                self.c.send_errors += 1;
                if e.raw_os_error() == Some(libc::ENETUNREACH) || e.raw_os_error() == Some(libc::EHOSTUNREACH) {
                    // Only the latest matters: a newer packet supersedes it.
                    self.unsent = Some(pkt.to_vec());
                }
            }
        }
    }

    fn on_esp(&mut self, pkt: &mut [u8]) {
        self.c.esp_received += 1;
        let Ok(o) = outer(pkt) else { return };
        if o.spi != self.sas.inbound.spi() {
            return;
        }
        if Some(o.dst) != self.care_of {
            self.c.esp_wrong_destination += 1;
            return;
        }
        let range = match self.sas.open(pkt, &o) {
            Ok(r) => r,
            Err(e) => {
                self.c.esp_dropped += 1;
                debug!("ESP dropped: {e}");
                return;
            }
        };
        let inner = &pkt[range];
        let Some((proto, src, _)) = inner_summary(inner) else { return };
        if proto == IPPROTO_IPIP {
            match ipip::decapsulate(inner) {
                Ok(d) if d.outer_src == self.sec.home_agent => {
                    self.c.ipip_decapsulated += 1;
                    if self.tun.send(d.inner).is_err() {
                        self.c.send_errors += 1;
                    }
                    self.first_data();
                }
                Ok(d) => {
                    self.c.ipip_dropped += 1;
                    debug!(src = %d.outer_src, "IP-in-IP not from our home agent: dropped");
                }
                Err(e) => {
                    self.c.ipip_dropped += 1;
                    debug!("IP-in-IP dropped: {e}");
                }
            }
            return;
        }
        if let Ok(d) = udp::parse(inner)
            && d.dst.port() == MIP_PORT
        {
            let kind = (d.payload.first().copied(), d.payload.get(1).copied());
            if kind.0 == Some(MIP_REGISTRATION_REPLY) && src == self.sec.home_agent {
                let payload = d.payload.to_vec();
                if let Err(e) = self.core.handle_reply(Instant::now(), now_ntp(), &payload) {
                    self.c.bad_replies += 1;
                    warn!("Registration Reply discarded: {e}");
                }
                self.drain();
                return;
            }
            if kind == (Some(MIP_EXPERIMENTAL), Some(SUBTYPE_RR_CHALLENGE)) {
                let (src, payload) = (d.src, d.payload.to_vec());
                if let Err(e) = self.core.handle_rr_challenge(src, &payload) {
                    warn!("return-routability challenge: {e}");
                }
                self.drain();
                return;
            }
        }
        if self.tun.send(inner).is_err() {
            self.c.send_errors += 1;
        }
        self.first_data();
    }

    fn first_data(&mut self) {
        if self.current.as_ref().is_some_and(|(_, h)| h.first_data_ms.is_none()) {
            self.mark(|h, ms| h.first_data_ms = Some(ms));
        }
    }

    fn refresh(&self) {
        let c = &self.c;
        let counters = crate::vpn_counters!(c; esp_received, esp_wrong_destination, esp_dropped, ipip_decapsulated,
            ipip_dropped, tun_no_care_of_address, sent, send_errors, resent_on_route, handovers, registrations,
            denials, bad_replies, reestablishments, reestablish_bad_responses);
        let bundle = BundleInfo {
            home_address: self.sec.home,
            care_of_address: self.care_of,
            inbound_spi: self.sas.inbound.spi(),
            outbound_spi: self.sas.outbound.spi(),
            packets_in: self.sas.inbound.counters().packets,
            packets_out: self.sas.outbound.counters().packets,
            generation: self.generation,
        };
        let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
        v.role = "mn";
        v.bundles = vec![bundle];
        v.counters = counters;
    }
}
