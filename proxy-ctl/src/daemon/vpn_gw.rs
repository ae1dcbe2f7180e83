//! The VPN gateway role: ESP tunnel-mode SA bundles per mobile node whose
//! inbound SA accepts any outer source (seed 004) but only for what the
//! handover needs (counted), SIUs from the home agent applied through the
//! sans-IO `Gateway` (outbound SA moved before the Registration Reply is
//! forwarded), the return-routability check, and re-establishment.
//!
//! Datapath: traffic from the private side to a care-of address is routed
//! (policy rule `iif inner_dev` -> `table`, one /32 per care-of address)
//! into a TUN device; the driver seals it with that MN's outbound SA. ESP
//! from MNs arrives on a raw socket; opened datagrams go back into the
//! kernel through the TUN device.

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddrV4},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use proxy_proto::vpn::{
    gateway::{Gateway, GatewayConfig, GwAction, SaBundle},
    reestablish::{NONCE_LEN, Responder},
    request::MIP_PORT,
    siu::SiuKey,
    udp,
};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::{
    vpn_io::{self, EspSocket, Tun, fill_random, unix_ms},
    vpn_tunnel::{SaPair, outer},
};
use crate::vpn::{
    config::{GwSection, esp_cipher, hex_key},
    view::{BundleInfo, HandoverInfo, VpnView},
};

/// Mobile IP message types seen inside the tunnel (RFC 5944 §3.3; SIU.md).
const MIP_REGISTRATION_REQUEST: u8 = 1;
const MIP_EXPERIMENTAL: u8 = 255;
const SUBTYPE_RR_RESPONSE: u8 = 3;

struct GwBundle {
    sas: SaPair,
    /// A new outer source the MN registers from: its data is accepted
    /// until the handover completes or fails (the wildcard, limited).
    pending_source: Option<Ipv4Addr>,
    generation: u32,
    packets_in: u64,
    packets_out: u64,
}

#[derive(Debug, Default)]
struct Counters {
    esp_received: u64,
    esp_not_ours: u64,
    esp_dropped: u64,
    wildcard_data_accepted: u64,
    wildcard_data_dropped: u64,
    inner_source_mismatch: u64,
    tun_no_bundle: u64,
    sent: u64,
    send_errors: u64,
    reestablished: u64,
    reestablish_refused: u64,
}

struct Gw {
    sec: GwSection,
    core: Gateway,
    bundles: HashMap<Ipv4Addr, GwBundle>,
    by_spi_in: HashMap<u32, Ipv4Addr>,
    by_spi_out: HashMap<u32, Ipv4Addr>,
    by_coa: HashMap<Ipv4Addr, Ipv4Addr>,
    esp: EspSocket,
    tun: Tun,
    c: Counters,
    out: Vec<u8>,
    /// The opened inner datagram (reused buffer).
    inner: Vec<u8>,
    view: Arc<Mutex<VpnView>>,
    /// SIU arrival per home address, for the history.
    siu_at: HashMap<Ipv4Addr, (Instant, u64)>,
}

pub async fn run(sec: GwSection, view: Arc<Mutex<VpnView>>) -> anyhow::Result<()> {
    let mut gc = GatewayConfig::new(sec.inner);
    gc.return_routability = sec.return_routability;
    gc.rr_timeout = Duration::from_millis(sec.rr_timeout_ms);
    let mut core = Gateway::new(gc);
    for h in &sec.home_agents {
        let key = hex_key("[vpn.gw.home_agent] siu_key", &h.siu_key).map_err(anyhow::Error::msg)?;
        core.add_home_agent(h.address, SiuKey::new(h.siu_key_id, &key));
    }
    let mut responder = Responder::default();
    let tun = Tun::open(&sec.tun)?;
    vpn_io::tun_up(&tun.name, None, vpn_io::GW_TUN_MTU).await?;
    vpn_io::sysctl_v4("ip_forward", "1")?;
    // Every IP-in-IP packet from the private side (the HA's traffic for
    // the MNs) goes to the driver, which seals it for the bundle whose
    // care-of address it is for, or counts it dropped: it never leaves
    // in clear, also not while an SA is about to move.
    let table = sec.table.to_string();
    let _ = vpn_io::ip(&["rule", "del", "iif", &sec.inner_dev, "ipproto", "4", "lookup", &table]).await;
    vpn_io::ip(&["rule", "add", "iif", &sec.inner_dev, "ipproto", "4", "lookup", &table, "priority", "1000"]).await?;
    vpn_io::ip(&["route", "replace", "default", "dev", &tun.name, "table", &table]).await?;
    let mut gw = Gw {
        core,
        bundles: HashMap::new(),
        by_spi_in: HashMap::new(),
        by_spi_out: HashMap::new(),
        by_coa: HashMap::new(),
        esp: EspSocket::open()?,
        tun,
        c: Counters::default(),
        out: Vec::with_capacity(2048),
        inner: Vec::with_capacity(2048),
        view,
        siu_at: HashMap::new(),
        sec: sec.clone(),
    };
    for n in &sec.nodes {
        let e = |k: &str, v: &str| esp_cipher(k, v).map_err(anyhow::Error::msg);
        let sas = SaPair::new(n.spi_out, e("key_out", &n.key_out)?, n.spi_in, e("key_in", &n.key_in)?);
        responder.add_node(n.home, &hex_key("[vpn.gw.node] psk", &n.psk).map_err(anyhow::Error::msg)?);
        gw.install(n.home, n.care_of, sas, 0);
    }
    let siu_sock =
        UdpSocket::bind(SocketAddrV4::new(sec.inner, MIP_PORT)).await.context("binding the SIU socket (inner:434)")?;
    let re_sock = UdpSocket::bind(SocketAddrV4::new(sec.public, sec.reestablish_port))
        .await
        .context("binding the re-establishment socket")?;
    info!(inner = %sec.inner, public = %sec.public, rr = sec.return_routability, "VPN gateway ready");
    gw.refresh();

    let (mut ebuf, mut tbuf, mut ubuf, mut rbuf) =
        (vec![0u8; 65536], vec![0u8; 65536], vec![0u8; 2048], vec![0u8; 256]);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let timer = gw.core.poll_timeout();
        let sleep = async {
            match timer {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = gw.esp.recv(&mut ebuf) => {
                let n = r?;
                gw.on_esp(&mut ebuf[..n]).await;
            }
            r = gw.tun.recv(&mut tbuf) => {
                let n = r?;
                gw.on_tun(&tbuf[..n]);
            }
            r = siu_sock.recv_from(&mut ubuf) => {
                let (n, src) = r?;
                let std::net::SocketAddr::V4(src) = src else { continue };
                gw.siu_at.insert(Ipv4Addr::UNSPECIFIED, (Instant::now(), unix_ms()));
                match gw.core.handle_siu(Instant::now(), *src.ip(), &ubuf[..n], &mut fill_random) {
                    Ok(()) => info!(%src, "SIU accepted"),
                    Err(e) => warn!(%src, "SIU rejected: {e}"),
                }
                gw.drain().await;
                gw.refresh();
            }
            r = re_sock.recv_from(&mut rbuf) => {
                let (n, src) = r?;
                let std::net::SocketAddr::V4(src) = src else { continue };
                let mut nonce = [0u8; NONCE_LEN];
                fill_random(&mut nonce);
                let spi_in = vpn_io::random_spi();
                match responder.handle_init(&rbuf[..n], spi_in, nonce) {
                    Ok(a) => {
                        let t0 = (Instant::now(), unix_ms());
                        let s = &a.sas;
                        let sas = SaPair::new(
                            s.spi_gw_to_mn,
                            proxy_proto::esp::EspCipher::new(crate::vpn::config::TRANSFORM, &s.keymat_gw_to_mn)?,
                            s.spi_mn_to_gw,
                            proxy_proto::esp::EspCipher::new(crate::vpn::config::TRANSFORM, &s.keymat_mn_to_gw)?,
                        );
                        let generation = gw.bundles.get(&a.home_address).map_or(0, |b| b.generation + 1);
                        let from = gw.core.bundle(a.home_address).map(|b| b.care_of_address);
                        gw.install(a.home_address, *src.ip(), sas, generation);
                        if let Err(e) = re_sock.send_to(&a.response, src).await {
                            warn!(%src, "re-establishment response: {e}");
                        }
                        gw.c.reestablished += 1;
                        info!(home = %a.home_address, care_of = %src.ip(), spi_in = s.spi_mn_to_gw,
                            spi_out = s.spi_gw_to_mn, "VPN re-established (new SAs)");
                        let mut v = gw.view.lock().unwrap_or_else(|e| e.into_inner());
                        v.push_history(HandoverInfo {
                            home_address: a.home_address,
                            from,
                            to: *src.ip(),
                            at_unix_ms: t0.1,
                            kind: "reestablished".into(),
                            registered_ms: Some(t0.0.elapsed().as_secs_f64() * 1e3),
                            inbound_spi: s.spi_mn_to_gw,
                            outbound_spi: s.spi_gw_to_mn,
                            ..Default::default()
                        });
                    }
                    Err(e) => {
                        gw.c.reestablish_refused += 1;
                        warn!(%src, "re-establishment refused: {e}");
                    }
                }
                gw.refresh();
            }
            _ = tick.tick() => gw.refresh(),
            _ = sleep => {
                gw.core.handle_timeout(Instant::now());
                gw.drain().await;
                gw.refresh();
            }
        }
    }
}

impl Gw {
    /// Installs (or replaces) a bundle with its SAs.
    fn install(&mut self, home: Ipv4Addr, care_of: Ipv4Addr, sas: SaPair, generation: u32) {
        if let Some(old) = self.bundles.remove(&home) {
            self.by_spi_in.remove(&old.sas.inbound.spi());
            self.by_spi_out.remove(&old.sas.outbound.spi());
        }
        if let Some(old) = self.core.bundle(home).map(|b| b.care_of_address) {
            self.by_coa.remove(&old);
        }
        let (spi_in, spi_out) = (sas.inbound.spi(), sas.outbound.spi());
        self.core.add_bundle(SaBundle {
            home_address: home,
            inbound_spi: spi_in,
            outbound_spi: spi_out,
            care_of_address: care_of,
        });
        self.by_spi_in.insert(spi_in, home);
        self.by_spi_out.insert(spi_out, home);
        self.by_coa.insert(care_of, home);
        self.bundles.insert(home, GwBundle { sas, pending_source: None, generation, packets_in: 0, packets_out: 0 });
    }

    async fn on_esp(&mut self, pkt: &mut [u8]) {
        self.c.esp_received += 1;
        tracing::trace!(len = pkt.len(), "ESP in");
        let Ok(o) = outer(pkt) else {
            self.c.esp_not_ours += 1;
            return;
        };
        if o.dst != self.sec.public {
            self.c.esp_not_ours += 1;
            return;
        }
        let Some(&home) = self.by_spi_in.get(&o.spi) else {
            self.c.esp_not_ours += 1;
            return;
        };
        // Counts a source other than the SA's care-of address (the wildcard).
        if self.core.accept_inbound(o.spi, o.src).is_err() {
            self.c.esp_dropped += 1;
            return;
        }
        let Some(b) = self.bundles.get_mut(&home) else { return };
        let range = match b.sas.open(pkt, &o) {
            Ok(r) => r,
            Err(e) => {
                self.c.esp_dropped += 1;
                debug!(src = %o.src, "ESP dropped: {e}");
                return;
            }
        };
        b.packets_in += 1;
        let mut inner = std::mem::take(&mut self.inner);
        inner.clear();
        inner.extend_from_slice(&pkt[range]);
        self.on_inner(&o, home, &inner).await;
        self.inner = inner;
    }

    async fn on_inner(&mut self, o: &super::vpn_tunnel::Outer, home: Ipv4Addr, inner: &[u8]) {
        let care_of = self.core.bundle(home).map(|s| s.care_of_address);
        if let Ok(d) = udp::parse(inner)
            && d.dst.port() == MIP_PORT
        {
            let kind = (d.payload.first().copied(), d.payload.get(1).copied());
            if *d.dst.ip() == self.sec.inner && kind == (Some(MIP_EXPERIMENTAL), Some(SUBTYPE_RR_RESPONSE)) {
                match self.core.handle_rr_response(o.spi, d.payload) {
                    Ok(()) => info!(%home, "return-routability echo verified"),
                    Err(e) => warn!(%home, "return-routability echo: {e}"),
                }
                self.drain().await;
                self.refresh();
                return;
            }
            if kind.0 == Some(MIP_REGISTRATION_REQUEST) {
                debug!(%home, outer_src = %o.src, "Registration Request through the tunnel");
                let payload = d.payload.to_vec();
                match self.core.handle_registration_request(Instant::now(), o.spi, o.src, &payload, &mut fill_random) {
                    Ok(()) => {
                        if care_of != Some(o.src)
                            && let Some(b) = self.bundles.get_mut(&home)
                        {
                            b.pending_source = Some(o.src);
                        }
                        self.forward_inner(inner, home);
                    }
                    Err(e) => warn!(%home, "Registration Request not forwarded: {e}"),
                }
                self.drain().await;
                self.refresh();
                return;
            }
        }
        // Ordinary data: from the current care-of address, or from the
        // address a registration is in progress from (wildcard, limited).
        let b = &self.bundles[&home];
        if care_of != Some(o.src) {
            if b.pending_source == Some(o.src) {
                self.c.wildcard_data_accepted += 1;
            } else {
                self.c.wildcard_data_dropped += 1;
                return;
            }
        }
        self.forward_inner(inner, home);
    }

    /// Writes an opened inner datagram into the kernel if its source is the
    /// MN's (inner selector: home address, or a care-of address for the
    /// MN's own Mobile IP messages).
    fn forward_inner(&mut self, inner: &[u8], home: Ipv4Addr) {
        let Some((_, src, _)) = super::vpn_tunnel::inner_summary(inner) else {
            self.c.inner_source_mismatch += 1;
            debug!(len = inner.len(), "inner datagram is not IPv4: dropped");
            return;
        };
        let b = &self.bundles[&home];
        let allowed = src == home
            || Some(src) == b.pending_source
            || self.core.bundle(home).is_some_and(|s| s.care_of_address == src);
        if !allowed {
            self.c.inner_source_mismatch += 1;
            debug!(%src, %home, "inner source is not the mobile node's: dropped");
            return;
        }
        if self.tun.send(inner).is_err() {
            self.c.send_errors += 1;
        }
    }

    fn on_tun(&mut self, pkt: &[u8]) {
        let Some((_, _, dst)) = super::vpn_tunnel::inner_summary(pkt) else { return };
        let Some(&home) = self.by_coa.get(&dst).or_else(|| self.bundles.contains_key(&dst).then_some(&dst)) else {
            self.c.tun_no_bundle += 1;
            return;
        };
        let Some(coa) = self.core.bundle(home).map(|b| b.care_of_address) else { return };
        self.seal_send(home, pkt, coa);
    }

    fn seal_send(&mut self, home: Ipv4Addr, inner: &[u8], dst: Ipv4Addr) {
        let Some(b) = self.bundles.get_mut(&home) else { return };
        if b.sas.seal(inner, self.sec.public, dst, &mut self.out).is_err() {
            self.c.send_errors += 1;
            return;
        }
        b.packets_out += 1;
        match self.esp.send(&self.out, dst) {
            Ok(_) => self.c.sent += 1,
            Err(_) => self.c.send_errors += 1,
        }
    }

    /// Carries out the core's actions in order: the SA moves before the
    /// reply goes out (seed 004).
    async fn drain(&mut self) {
        while let Some(a) = self.core.poll_action() {
            match a {
                GwAction::MoveOutboundSa { outbound_spi, old_care_of_address, new_care_of_address } => {
                    let Some(&home) = self.by_spi_out.get(&outbound_spi) else { continue };
                    self.by_coa.remove(&old_care_of_address);
                    // The SA's destination: from now on the HA's IP-in-IP
                    // for the new address is sealed; nothing else changes.
                    self.by_coa.insert(new_care_of_address, home);
                    if let Some(b) = self.bundles.get_mut(&home) {
                        b.pending_source = None;
                    }
                    info!(%home, from = %old_care_of_address, to = %new_care_of_address, spi = outbound_spi,
                        "outbound SA moved (no re-keying)");
                    let (t0, at) =
                        self.siu_at.get(&Ipv4Addr::UNSPECIFIED).copied().unwrap_or((Instant::now(), unix_ms()));
                    let b = &self.bundles[&home];
                    let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
                    v.push_history(HandoverInfo {
                        home_address: home,
                        from: Some(old_care_of_address),
                        to: new_care_of_address,
                        at_unix_ms: at,
                        kind: "fast".into(),
                        registered_ms: Some(t0.elapsed().as_secs_f64() * 1e3),
                        inbound_spi: b.sas.inbound.spi(),
                        outbound_spi,
                        rr_verified: Some(self.sec.return_routability),
                        ..Default::default()
                    });
                }
                GwAction::Forward { outbound_spi, dst, datagram }
                | GwAction::Challenge { outbound_spi, dst, datagram } => {
                    let Some(&home) = self.by_spi_out.get(&outbound_spi) else { continue };
                    self.seal_send(home, &datagram, dst);
                }
            }
        }
    }

    fn refresh(&self) {
        let mut bundles: Vec<BundleInfo> = self
            .bundles
            .iter()
            .map(|(home, b)| BundleInfo {
                home_address: *home,
                care_of_address: self.core.bundle(*home).map(|s| s.care_of_address),
                inbound_spi: b.sas.inbound.spi(),
                outbound_spi: b.sas.outbound.spi(),
                packets_in: b.packets_in,
                packets_out: b.packets_out,
                generation: b.generation,
            })
            .collect();
        bundles.sort_by_key(|b| b.home_address);
        let gc = self.core.counters();
        let mut counters = crate::vpn_counters!(gc; wildcard_source_accepted, unknown_spi, malformed,
            home_address_mismatch, siu_applied, siu_denial_forwarded, siu_unknown_key, siu_unexpected_source,
            siu_bad_icv, siu_replayed, siu_unknown_mobile_node, siu_old_coa_mismatch, siu_bad_reply, siu_parked,
            rr_started, rr_verified, rr_failed, rr_mismatch);
        let c = &self.c;
        counters.extend(crate::vpn_counters!(c; esp_received, esp_not_ours, esp_dropped, wildcard_data_accepted,
            wildcard_data_dropped, inner_source_mismatch, tun_no_bundle, sent, send_errors, reestablished,
            reestablish_refused));
        let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
        v.role = "gw";
        v.bundles = bundles;
        v.counters = counters;
    }
}
