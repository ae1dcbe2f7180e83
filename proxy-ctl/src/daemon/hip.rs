//! The HIP role: the tokio driver around the sans-IO
//! `proxy_proto::hip::assoc::HipHost`. It reads raw protocol-139 packets,
//! feeds them and the clock to the core, sends what the core asks for and
//! publishes its events. No protocol decisions here.
//!
//! [`HipHandle`] is the in-process API: the CLI's `assoc` requests use it,
//! and so will the ESP datapath (subscribe to [`HipHandle::events`] for
//! `Event::Established`, which carries SPIs and keys; call
//! [`HipHandle::initiate`] on a first packet toward a peer).

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv6Addr, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use proxy_proto::hip::assoc::{AssocInfo, Counters, Event, HipHost, RegistrationInfo, RekeyKeying, RekeyStep, State};
use proxy_proto::hip::crypto::Hit;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, info, warn};

use super::hip_mobility::{Change, LocatorWatch};
use super::hip_socket::RawHip;
use crate::hip::{HipRole, HipSection, Mobility, identity};
use proxy_proto::hip::assoc::registration::lifetime_value;

enum Cmd {
    Initiate {
        peer: Hit,
        paths: Vec<(IpAddr, IpAddr)>,
        reply: oneshot::Sender<Result<State, String>>,
    },
    Close {
        peer: Hit,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Forget {
        peer: Hit,
        reply: oneshot::Sender<usize>,
    },
    Rekey {
        peer: Hit,
        keying: RekeyKeying,
        reply: oneshot::Sender<Result<(), String>>,
    },
    List {
        reply: oneshot::Sender<Vec<AssocInfo>>,
    },
    Stats {
        reply: oneshot::Sender<HipStats>,
    },
    EspReceived {
        local: Hit,
        peer: Hit,
        /// The inbound SA it came on, when known.
        spi: Option<u32>,
    },
    /// Another protocol (the mobile VPN) moved the association's SAs.
    Moved {
        peer: Hit,
        local: Option<IpAddr>,
        remote: Option<IpAddr>,
    },
    Registrations {
        reply: oneshot::Sender<Vec<RegistrationInfo>>,
    },
    /// Bytes delivered so far on each peer's inbound SA: (local HIT, peer
    /// HIT, SPI, bytes), the credit of credit-based authorization.
    Received(Vec<(Hit, Hit, u32, u64)>),
}

/// Counters of the core and of the driver.
#[derive(Debug, Clone)]
pub struct HipStats {
    pub core: Counters,
    /// Packets the kernel refused to send.
    pub send_errors: u64,
    /// Receive errors (truncated packets, missing PKTINFO).
    pub recv_errors: u64,
    /// (local HIT, R1_COUNTER, #K) of the current R1 generations.
    pub r1: Vec<(Hit, Option<u64>, Option<u8>)>,
    pub local_hits: Vec<Hit>,
}

/// The in-process API of the HIP role.
#[derive(Clone)]
pub struct HipHandle {
    cmd: mpsc::Sender<Cmd>,
    events: broadcast::Sender<Event>,
    hook: std::sync::Arc<std::sync::OnceLock<EventHook>>,
    section: std::sync::Arc<HipSection>,
}

/// Called by the driver for every event, synchronously, before the
/// packets of the same step go out: the ESP glue installs a Responder's SAs
/// here, so they are in before its R2 can bring the Initiator's first ESP.
pub type EventHook = std::sync::Arc<dyn Fn(&Event) + Send + Sync>;

impl HipHandle {
    /// Set the synchronous event hook (once per daemon).
    pub fn set_event_hook(&self, hook: EventHook) -> anyhow::Result<()> {
        self.hook.set(hook).map_err(|_| anyhow::anyhow!("the HIP event hook is already set"))
    }

    /// Every core event (Established with SPIs and keys, Failed, Closed, Notified).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Run a base exchange with `peer` (locators: given, else the static
    /// peer table) and wait for ESTABLISHED, failure or the timeout.
    pub async fn initiate(&self, peer: Ipv6Addr, locators: Vec<IpAddr>) -> anyhow::Result<AssocInfo> {
        let hit = Hit::from(peer);
        if !hit.is_orchid() {
            bail!("{peer} is not a HIT (ORCHIDv2, 2001:20::/28)");
        }
        let locators = if locators.is_empty() { self.section.peer_locators(peer) } else { locators };
        if locators.is_empty() {
            bail!("no locator for {peer}: give --locator or add a [[hip.peer]] entry");
        }
        let paths: Vec<(IpAddr, IpAddr)> =
            locators.iter().filter_map(|&p| local_locator(&self.section.locators, p).map(|l| (l, p))).collect();
        if paths.is_empty() {
            bail!("no local address can reach {locators:?}");
        }
        self.initiate_paths(peer, paths).await
    }

    /// As [`HipHandle::initiate`], from our locator `local` to the peer's
    /// `remote` (a mobile node starting over from its new care-of address).
    pub async fn initiate_from(&self, peer: Ipv6Addr, local: IpAddr, remote: IpAddr) -> anyhow::Result<AssocInfo> {
        if !Hit::from(peer).is_orchid() {
            bail!("{peer} is not a HIT (ORCHIDv2, 2001:20::/28)");
        }
        self.initiate_paths(peer, vec![(local, remote)]).await
    }

    async fn initiate_paths(&self, peer: Ipv6Addr, paths: Vec<(IpAddr, IpAddr)>) -> anyhow::Result<AssocInfo> {
        let hit = Hit::from(peer);
        let mut events = self.events.subscribe();
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Cmd::Initiate { peer: hit, paths, reply }).await.context("HIP driver stopped")?;
        let state = rx.await.context("HIP driver stopped")?.map_err(anyhow::Error::msg)?;
        if !matches!(state, State::Established | State::R2Sent) {
            let wait = Duration::from_secs(self.section.connect_timeout_secs);
            let outcome = tokio::time::timeout(wait, async {
                loop {
                    match events.recv().await {
                        Ok(Event::Established(e)) if e.peer_hit == hit => return Ok(()),
                        Ok(Event::Failed { peer_hit, reason, .. }) if peer_hit == hit => {
                            return Err(anyhow::anyhow!("base exchange with {peer} failed: {reason}"));
                        }
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => bail!("HIP driver stopped"),
                    }
                }
            })
            .await;
            match outcome {
                Ok(r) => r?,
                Err(_) => bail!("no ESTABLISHED with {peer} within {}s", self.section.connect_timeout_secs),
            }
        }
        self.list().await?.into_iter().find(|a| a.peer_hit == hit).context("association vanished")
    }

    /// CLOSE the association with `peer`.
    pub async fn close(&self, peer: Ipv6Addr) -> anyhow::Result<()> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Cmd::Close { peer: Hit::from(peer), reply }).await.context("HIP driver stopped")?;
        rx.await.context("HIP driver stopped")?.map_err(anyhow::Error::msg)
    }

    /// Rekey the association with `peer` by UPDATE (new SPIs and ESP keys,
    /// from a new Diffie-Hellman or the current KEYMAT).
    pub async fn rekey(&self, peer: Ipv6Addr, keying: RekeyKeying) -> anyhow::Result<()> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Cmd::Rekey { peer: Hit::from(peer), keying, reply }).await.context("HIP driver stopped")?;
        rx.await.context("HIP driver stopped")?.map_err(anyhow::Error::msg)
    }

    /// Drop the association with `peer` without telling it (the path is
    /// gone; a new base exchange follows, which the peer accepts in
    /// ESTABLISHED, RFC 7401 §4.4.2). Returns how many went.
    pub async fn forget(&self, peer: Ipv6Addr) -> anyhow::Result<usize> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Cmd::Forget { peer: Hit::from(peer), reply }).await.context("HIP driver stopped")?;
        rx.await.context("HIP driver stopped")
    }

    /// Every association.
    pub async fn list(&self) -> anyhow::Result<Vec<AssocInfo>> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Cmd::List { reply }).await.context("HIP driver stopped")?;
        rx.await.context("HIP driver stopped")
    }

    /// ESP arrived on the inbound SA of (local, peer): the Responder's
    /// R2-SENT becomes ESTABLISHED (RFC 7401 §4.4.2). For the ESP datapath.
    pub async fn esp_received(&self, local: Hit, peer: Hit) -> anyhow::Result<()> {
        self.cmd.send(Cmd::EspReceived { local, peer, spi: None }).await.context("HIP driver stopped")
    }

    /// As [`HipHandle::esp_received`], on the inbound SA `spi`: if a rekey
    /// added it, the peer has switched and we switch too (RFC 7402 §6.10).
    pub async fn esp_received_on(&self, local: Hit, peer: Hit, spi: u32) -> anyhow::Result<()> {
        self.cmd.send(Cmd::EspReceived { local, peer, spi: Some(spi) }).await.context("HIP driver stopped")
    }

    /// Registrations granted (rvs role) and held (host role).
    pub async fn registrations(&self) -> anyhow::Result<Vec<RegistrationInfo>> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Cmd::Registrations { reply }).await.context("HIP driver stopped")?;
        rx.await.context("HIP driver stopped")
    }

    /// Whether `[hip] credit_based_authorization` is on (RFC 8046 §5.5).
    pub fn credit_based_authorization(&self) -> bool {
        self.section.credit_based_authorization
    }

    /// What each peer's inbound SA delivered so far (the ESP glue, for
    /// the credit of credit-based authorization).
    pub async fn observe_received(&self, received: Vec<(Hit, Hit, u32, u64)>) -> anyhow::Result<()> {
        self.cmd.send(Cmd::Received(received)).await.context("HIP driver stopped")
    }

    /// The mobile VPN moved the SAs of the association with `peer` (its
    /// own handover, no HIP signalling): the core records the locators in
    /// use (`None` keeps a side), so `assoc list` and what HIP sends later
    /// follow. Never waits: from a role driver's event loop.
    pub fn note_moved(&self, peer: Hit, local: Option<IpAddr>, remote: Option<IpAddr>) -> anyhow::Result<()> {
        self.cmd.try_send(Cmd::Moved { peer, local, remote }).map_err(|e| anyhow::anyhow!("HIP driver: {e}"))
    }

    /// Counters.
    pub async fn stats(&self) -> anyhow::Result<HipStats> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Cmd::Stats { reply }).await.context("HIP driver stopped")?;
        rx.await.context("HIP driver stopped")
    }
}

/// Our address toward `peer`: a configured locator of its family, else the
/// kernel's source address selection (a connected UDP socket sends nothing).
fn local_locator(configured: &[IpAddr], peer: IpAddr) -> Option<IpAddr> {
    if let Some(l) = configured.iter().find(|l| l.is_ipv4() == peer.is_ipv4()) {
        return Some(*l);
    }
    let any: IpAddr = if peer.is_ipv4() { IpAddr::from([0u8; 4]) } else { IpAddr::from([0u16; 8]) };
    let s = UdpSocket::bind((any, 0)).ok()?;
    s.connect((peer, 9)).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

fn system_random(buf: &mut [u8]) {
    // DH keys, SPIs, puzzle secrets: without the system RNG there is no
    // safe way to go on.
    aws_lc_rs::rand::fill(buf).expect("system random source");
}

/// The first key generation in a process pays aws-lc's one-time set-up
/// (about 55 ms for P-384 on the test machine, against 0.1 ms after):
/// pay it now rather than in the first base exchange, where it would delay
/// both the R1 and the I2 and so a local application's first packet.
fn warm_up(cfg: &proxy_proto::hip::assoc::HostConfig) {
    let Some(&group) = cfg.dh_groups.0.first() else { return };
    let t = Instant::now();
    if let Err(e) = proxy_proto::hip::crypto::DhKeyPair::generate(group, &mut system_random) {
        warn!(?group, "DH warm-up failed: {e}");
    }
    debug!(?group, took = ?t.elapsed(), "crypto warmed up");
}

/// Load the identities, open the sockets and start the driver.
pub fn spawn(section: HipSection) -> anyhow::Result<(HipHandle, tokio::task::JoinHandle<()>)> {
    let cfg = section.host_config().map_err(anyhow::Error::msg)?;
    warm_up(&cfg);
    let ids = section.identities.iter().map(|p| identity::load_local(p)).collect::<anyhow::Result<Vec<_>>>()?;
    for id in &ids {
        info!(hit = %id.hit.to_ipv6(), algorithm = ?id.public.algorithm(), "HIP host identity");
    }
    let mut core = HipHost::new(cfg, ids, Box::new(system_random));
    if let Some(peers) = &section.allowed_peers {
        core.set_allowed_peers(Some(peers.iter().map(|&h| Hit::from(h)).collect::<HashSet<_>>()));
    }
    let v4 = RawHip::open(false).map_err(|e| warn!("no IPv4 HIP socket: {e}")).ok();
    let v6 = RawHip::open(true).map_err(|e| warn!("no IPv6 HIP socket: {e}")).ok();
    if v4.is_none() && v6.is_none() {
        bail!("cannot open a raw IP protocol 139 socket (needs CAP_NET_RAW)");
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (ev_tx, _) = broadcast::channel(256);
    info!(role = ?section.role, "HIP ready (raw IP protocol 139)");
    if let Some(r) = &section.rendezvous {
        // RFC 8003: register at start; the core refreshes before expiry.
        let local = local_locator(&section.locators, r.address)
            .with_context(|| format!("[hip.rendezvous] no local address can reach {}", r.address))?;
        let lifetime = lifetime_value(Duration::from_secs(r.lifetime_secs));
        core.register(Instant::now(), Hit::from(r.hit), vec![(local, r.address)], lifetime)
            .map_err(|e| anyhow::anyhow!("[hip.rendezvous] {e}"))?;
        info!(rvs = %r.hit, address = %r.address, lifetime_secs = r.lifetime_secs, "registering with the rendezvous server");
    }
    let mobility = if section.role == HipRole::Host { section.mobility } else { Mobility::Off };
    let hook = std::sync::Arc::new(std::sync::OnceLock::new());
    let handle =
        HipHandle { cmd: cmd_tx, events: ev_tx.clone(), hook: hook.clone(), section: std::sync::Arc::new(section) };
    // The address watcher runs inside the driver's loop: a change reaches
    // the core without a hop between tasks.
    let watch = if mobility != Mobility::Off { LocatorWatch::open() } else { None };
    let d = Driver { core, hook, v4, v6, events: ev_tx, send_errors: 0, recv_errors: 0, mobility };
    let task = tokio::spawn(drive(d, cmd_rx, watch));
    Ok((handle, task))
}

async fn changed_on(w: &mut Option<LocatorWatch>) -> std::io::Result<Change> {
    match w {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

async fn recv_on(s: &Option<RawHip>, buf: &mut [u8]) -> std::io::Result<super::hip_socket::Received> {
    match s {
        Some(s) => s.recv(buf).await,
        None => std::future::pending().await,
    }
}

struct Driver {
    core: HipHost,
    hook: std::sync::Arc<std::sync::OnceLock<EventHook>>,
    v4: Option<RawHip>,
    v6: Option<RawHip>,
    events: broadcast::Sender<Event>,
    send_errors: u64,
    recv_errors: u64,
    mobility: Mobility,
}

impl Driver {
    async fn flush(&mut self) {
        // The datapath first: a Responder's SAs (installed by the hook on
        // its Established event) must be in before its R2 reaches the
        // Initiator, whose first ESP follows at once; a verified locator
        // moves the SAs before anything else. Then the packets, then the
        // logs and subscribers (a log line is a write(2): not in the way).
        let mut events = Vec::new();
        while let Some(ev) = self.core.poll_event() {
            if let Some(hook) = self.hook.get() {
                hook(&ev);
            }
            events.push(ev);
        }
        self.send_queued().await;
        for ev in events {
            log_event(&ev);
            // No subscriber is fine: nobody waits.
            let _ = self.events.send(ev);
        }
    }

    async fn send_queued(&mut self) {
        while let Some(t) = self.core.poll_transmit() {
            let sock = if t.dst.is_ipv4() { &self.v4 } else { &self.v6 };
            let r = match sock {
                Some(s) => s.send(t.src, t.dst, &t.payload).await,
                None => Err(std::io::Error::other("no socket of that family")),
            };
            match r {
                Ok(()) => {
                    debug!(src = %t.src, dst = %t.dst, kind = packet_kind(&t.payload), len = t.payload.len(), "HIP sent")
                }
                Err(e) => {
                    self.send_errors += 1;
                    warn!(src = %t.src, dst = %t.dst, "HIP send failed: {e}");
                }
            }
        }
    }

    fn on_packet(&mut self, p: &super::hip_socket::Received, bytes: &[u8]) {
        let now = Instant::now();
        self.core.handle_packet(now, p.src, p.dst, bytes);
        // The timeline of a move (or a base exchange) at debug level:
        // arrival, then how long verifying and answering took.
        debug!(src = %p.src, dst = %p.dst, kind = packet_kind(bytes), len = bytes.len(), took_us = now.elapsed().as_micros(), "HIP packet");
    }

    /// Our addresses changed (RFC 8046 §3.2.1): each association whose
    /// locator is gone moves, and its UPDATE (or, with mobility = "rebex",
    /// its I1) leaves as soon as it is ready, peers we exchange data with
    /// before the rendezvous server.
    async fn on_locators(&mut self, c: Change) {
        let start = Instant::now();
        let keys = self.core.stranded(&c.addrs);
        let mut moved = 0;
        let mut first_sent_us = None;
        for key in keys {
            let now = Instant::now();
            let ok = if self.mobility == Mobility::Rebex {
                self.core.restart_one(now, key, &c.addrs)
            } else {
                self.core.update_locator(now, key, &c.addrs)
            };
            if ok {
                moved += 1;
                self.flush().await;
                first_sent_us.get_or_insert_with(|| c.seen.elapsed().as_micros());
            }
        }
        // Make-before-break: addresses gained while the old ones still
        // work are announced beside them, so the peers check them ahead of
        // a move (after the moves above: those are on the data's path).
        let mut ahead = 0;
        if self.mobility == Mobility::Update {
            ahead = self.core.announce_added(Instant::now(), &c.addrs);
            if ahead > 0 {
                self.flush().await;
            }
        }
        // `event_at`: when the notification was read, Unix seconds (the
        // move benchmark's time zero); then how long until the driver had
        // it, and until the first UPDATE / I1 was sent.
        let at = c.seen_wall.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        let (addrs, removed) = (&c.addrs, &c.removed);
        let queued_us = start.saturating_duration_since(c.seen).as_micros();
        info!(?addrs, ?removed, event_at = format_args!("{at:.6}"), "local addresses changed (rtnetlink)");
        if ahead > 0 {
            info!(associations = ahead, "new addresses announced ahead of a move (LOCATOR_SET)");
        }
        if moved > 0 {
            let what = if self.mobility == Mobility::Rebex { "fresh base exchanges" } else { "UPDATE sent" };
            info!(moved, queued_us, first_sent_us, "addresses changed: {what}");
        }
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        let now = Instant::now();
        match cmd {
            Cmd::Initiate { peer, paths, reply } => {
                let r = self.core.initiate(now, None, peer, paths).map_err(|e| e.to_string());
                if r.is_ok() {
                    info!(peer = %peer.to_ipv6(), "base exchange started");
                }
                let _ = reply.send(r);
            }
            Cmd::Rekey { peer, keying, reply } => {
                let r = self.core.rekey(now, peer, keying).map_err(|e| e.to_string());
                if r.is_ok() {
                    info!(peer = %peer.to_ipv6(), ?keying, "rekey started (UPDATE with ESP_INFO)");
                }
                let _ = reply.send(r);
            }
            Cmd::Close { peer, reply } => {
                let _ = reply.send(self.core.close(now, None, peer).map_err(|e| e.to_string()));
            }
            Cmd::Forget { peer, reply } => {
                let _ = reply.send(self.core.forget(&peer));
            }
            Cmd::List { reply } => {
                let _ = reply.send(self.core.associations(now));
            }
            Cmd::EspReceived { local, peer, spi: None } => self.core.esp_received(now, local, peer),
            Cmd::EspReceived { local, peer, spi: Some(spi) } => self.core.esp_received_on(now, local, peer, spi),
            Cmd::Received(rows) => {
                for (local, peer, spi, bytes) in rows {
                    self.core.observe_received(now, local, peer, spi, bytes);
                }
            }
            Cmd::Moved { peer, local, remote } => {
                let n = self.core.note_moved(&peer, local, remote);
                debug!(peer = %peer.to_ipv6(), ?local, ?remote, moved = n, "association moved by the VPN");
            }
            Cmd::Registrations { reply } => {
                let _ = reply.send(self.core.registrations(now));
            }
            Cmd::Stats { reply } => {
                let _ = reply.send(HipStats {
                    core: self.core.counters().clone(),
                    send_errors: self.send_errors,
                    recv_errors: self.recv_errors,
                    r1: self.core.r1_generations(),
                    local_hits: self.core.local_hits(),
                });
            }
        }
    }
}

/// The packet type's name, for logs (RFC 7401 §5.1: byte 2, low 7 bits).
fn packet_kind(b: &[u8]) -> &'static str {
    match b.get(2).map(|t| t & 0x7f) {
        Some(1) => "I1",
        Some(2) => "R1",
        Some(3) => "I2",
        Some(4) => "R2",
        Some(16) => "UPDATE",
        Some(17) => "NOTIFY",
        Some(18) => "CLOSE",
        Some(19) => "CLOSE_ACK",
        _ => "other",
    }
}

fn log_event(ev: &Event) {
    match ev {
        Event::Established(e) => info!(
            local = %e.local_hit.to_ipv6(), peer = %e.peer_hit.to_ipv6(), locator = %e.peer_locator,
            initiator = e.initiator, transform = ?e.transform,
            spi_in = format_args!("{:#010x}", e.inbound_spi), spi_out = format_args!("{:#010x}", e.outbound_spi),
            "HIP association ESTABLISHED"
        ),
        Event::Rekeyed(r) => match &r.step {
            RekeyStep::AddInbound { spi, .. } => info!(
                peer = %r.peer_hit.to_ipv6(), new_dh = r.new_dh, spi_in = format_args!("{spi:#010x}"),
                "rekey: new inbound SA"
            ),
            RekeyStep::SwitchOutbound { spi, old_outbound_spi, .. } => info!(
                peer = %r.peer_hit.to_ipv6(), new_dh = r.new_dh,
                spi_out = format_args!("{old_outbound_spi:#010x} -> {spi:#010x}"),
                "rekey: outbound SA switched"
            ),
            RekeyStep::DropInbound { spi } => warn!(
                peer = %r.peer_hit.to_ipv6(), spi_in = format_args!("{spi:#010x}"),
                "rekey answered but never completed: its inbound SA goes"
            ),
        },
        Event::Failed { peer_hit, reason, .. } => warn!(peer = %peer_hit.to_ipv6(), %reason, "base exchange failed"),
        Event::Closed { peer_hit, .. } => info!(peer = %peer_hit.to_ipv6(), "HIP association closed"),
        Event::Notified { peer_hit, message_type } => {
            warn!(peer = %peer_hit.to_ipv6(), ?message_type, "NOTIFY received")
        }
        Event::LocatorChanged { peer_hit, local_locator, peer_locator, credit: None, .. } => info!(
            peer = %peer_hit.to_ipv6(), local = %local_locator, peer_locator = %peer_locator,
            "HIP association moved (UPDATE)"
        ),
        Event::LocatorChanged { peer_hit, local_locator, peer_locator, credit: Some(credit), .. } => info!(
            peer = %peer_hit.to_ipv6(), local = %local_locator, peer_locator = %peer_locator, credit,
            "HIP association: data to an unverified locator within credit (RFC 8046 §5.5)"
        ),
        Event::Registered { registrar_hit, lifetime } => {
            info!(rvs = %registrar_hit.to_ipv6(), lifetime_secs = lifetime.as_secs(), "registered with the rendezvous server")
        }
        Event::RegistrationFailed { registrar_hit, failure_type } => {
            warn!(rvs = %registrar_hit.to_ipv6(), ?failure_type, "registration refused")
        }
    }
}

async fn drive(mut d: Driver, mut cmds: mpsc::Receiver<Cmd>, mut watch: Option<LocatorWatch>) {
    let mut buf4 = vec![0u8; 65536];
    let mut buf6 = vec![0u8; 65536];
    loop {
        d.flush().await;
        let deadline = d.core.poll_timeout();
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = recv_on(&d.v4, &mut buf4) => match r {
                Ok(p) => d.on_packet(&p, &buf4[p.start..p.end]),
                Err(e) => { d.recv_errors += 1; debug!("HIP receive (IPv4): {e}"); }
            },
            r = recv_on(&d.v6, &mut buf6) => match r {
                Ok(p) => d.on_packet(&p, &buf6[p.start..p.end]),
                Err(e) => { d.recv_errors += 1; debug!("HIP receive (IPv6): {e}"); }
            },
            c = cmds.recv() => match c {
                Some(c) => d.on_cmd(c),
                None => return,
            },
            c = changed_on(&mut watch) => match c {
                Ok(c) => d.on_locators(c).await,
                Err(e) => {
                    warn!("rtnetlink watcher stopped, HIP mobility off: {e}");
                    watch = None;
                }
            },
            _ = sleep => d.core.handle_timeout(Instant::now()),
        }
    }
}
