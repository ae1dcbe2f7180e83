//! The SA store: every SA this daemon holds, shared by the control plane
//! (install, move, remove, list) and the ESP workers (look up per packet).
//!
//! Workers take the read lock once per batch and the SA's own mutex per
//! packet: no syscall, no allocation. Writers (the CLI, the HIP driver) are
//! rare. This is the in-process API the HIP and VPN drivers call:
//! [`SaTable::install_pair`] on an Established event, [`SaTable::move_outer`]
//! when a locator changes (RFC 8046 mobility, VPN handover), and
//! [`SaTable::remove`].

use std::{
    collections::HashMap,
    net::IpAddr,
    path::PathBuf,
    sync::{Mutex, RwLock, RwLockReadGuard},
};

use proxy_proto::esp::{
    EspCipher, InboundSa, Mode, OutboundSa, SaEvent, Transform, beet::InnerAddrs, wireshark_esp_sa_line,
};
use serde::{Deserialize, Serialize};

use super::counters::{Counter, EspCounters};
use super::spec::{Direction, ModeName, ValidSa, transform_name};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaError {
    #[error("{0} SA with SPI {1:#010x} already exists")]
    Duplicate(Direction, u32),
    #[error("no {0} SA with SPI {1:#010x}")]
    NotFound(Direction, u32),
    #[error("an outbound SA for inner peer {0} already exists (SPI {1:#010x})")]
    DuplicateSelector(String, u32),
    #[error("the key was refused: {0}")]
    Key(String),
    #[error("{0}")]
    Invalid(String),
}

/// What the workers need of an outbound SA besides the SA itself.
pub struct OutEntry {
    pub mode: Mode,
    /// BEET: inner (source, destination) the packets must carry.
    pub inner: Option<InnerAddrs>,
    pub state: Mutex<OutState>,
    meta: Meta,
}

pub struct OutState {
    pub sa: OutboundSa,
    pub local: IpAddr,
    pub peer: IpAddr,
    /// Bytes the data path may still send to `peer` (`None`: no limit):
    /// the VPN gateway's credit toward a care-of address not verified yet.
    pub credit: Option<u64>,
}

pub struct InEntry {
    pub mode: Mode,
    /// BEET: inner (source, destination) rebuilt on delivery.
    pub inner: Option<InnerAddrs>,
    pub wildcard_source: bool,
    pub state: Mutex<InState>,
    meta: Meta,
}

pub struct InState {
    pub sa: InboundSa,
    pub local: IpAddr,
    pub peer: IpAddr,
    /// Packets dropped because they came from another outer source.
    pub bad_source: u64,
}

/// Kept for listing and key export only.
struct Meta {
    transform: Transform,
    key: Vec<u8>,
    inner_local: Option<IpAddr>,
    inner_peer: Option<IpAddr>,
    from_hip: bool,
    hip_peer: Option<IpAddr>,
}

/// Lookup tables the workers read.
#[derive(Default)]
pub struct Tables {
    outbound: HashMap<u32, std::sync::Arc<OutEntry>>,
    inbound: HashMap<u32, std::sync::Arc<InEntry>>,
    /// Outbound selector: inner destination -> SPI.
    out_by_inner: HashMap<IpAddr, u32>,
    /// Tunnel SA without an inner peer: carries everything else.
    out_default: Option<u32>,
    /// Tunnel SAs by their outer peer: a packet for the tunnel's far end
    /// itself (a home agent's IP-in-IP to a care-of address, RFC 2003)
    /// goes on that tunnel. Follows [`SaTable::move_outer`].
    out_by_peer: HashMap<IpAddr, u32>,
}

impl Tables {
    /// The outbound SA for a local packet to `dst` (exact inner address
    /// first, then a tunnel SA whose outer peer `dst` is, then the default
    /// tunnel SA).
    pub fn outbound_for(&self, dst: IpAddr) -> Option<&OutEntry> {
        let spi = self.out_by_inner.get(&dst).or_else(|| self.out_by_peer.get(&dst)).copied().or(self.out_default)?;
        self.outbound.get(&spi).map(|e| &**e)
    }

    /// The outbound SA with this SPI (a control plane sending on it).
    pub fn outbound_by_spi(&self, spi: u32) -> Option<&OutEntry> {
        self.outbound.get(&spi).map(|e| &**e)
    }

    pub fn inbound(&self, spi: u32) -> Option<&InEntry> {
        self.inbound.get(&spi).map(|e| &**e)
    }

    pub fn is_empty(&self) -> bool {
        self.outbound.is_empty() && self.inbound.is_empty()
    }
}

/// One row of `proxy-ctl sa list`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SaInfo {
    pub spi: u32,
    pub direction: Direction,
    pub mode: ModeName,
    pub transform: String,
    pub local: IpAddr,
    pub peer: IpAddr,
    pub inner_local: Option<IpAddr>,
    pub inner_peer: Option<IpAddr>,
    pub wildcard_source: bool,
    pub packets: u64,
    pub bytes: u64,
    /// Outbound: last sequence number used. Inbound: top of the window.
    pub sequence: u64,
    pub drop_replay: u64,
    pub drop_icv: u64,
    /// Every other drop of this SA (truncated, padding, next header, dummy, source).
    pub drop_other: u64,
    /// Who installed it: "hip" (a HIP association) or "manual" (`[[sa]]`, `sa add`).
    #[serde(default = "manual")]
    pub origin: String,
    /// Wireshark `esp_sa` line, only when keys were asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esp_sa: Option<String>,
}

pub struct SaTable {
    tables: RwLock<Tables>,
    pub counters: EspCounters,
    events: Mutex<Vec<SaEvent>>,
    /// `esp_sa_export`: rewritten on every change (debugging only).
    export: Option<PathBuf>,
    /// Signalled on a change while the TUN sender holds packets for a peer
    /// without SA (`holding`), so it releases them at once (eventfd; -1 if
    /// none).
    changed: std::os::fd::RawFd,
    /// The TUN sender holds packets. Without any, a change does not wake
    /// it: on a handover the mover's own thread (the MN's driver) would
    /// pay for waking a thread with nothing to do.
    holding: std::sync::atomic::AtomicBool,
    /// Where workers report inner destinations that have no SA (the slow
    /// path: the HIP driver starts a base exchange).
    misses: Mutex<Option<MissSink>>,
    /// Where workers report the first packet opened on an inbound SA, as
    /// (inner local, inner peer): HIP's R2-SENT becomes ESTABLISHED on it
    /// (RFC 7401 §4.4.2).
    first_esp: Mutex<Option<tokio::sync::mpsc::UnboundedSender<(IpAddr, IpAddr, u32)>>>,
    /// Destinations whose SA will not come (the base exchange failed):
    /// workers drop what they hold for them instead of waiting it out.
    given_up: Mutex<Vec<IpAddr>>,
    /// Outbound sequence number at which new SAs ask for a rekey
    /// (`[esp] rekey_after_packets`).
    soft_limit: std::sync::atomic::AtomicU32,
    /// Woken by [`SaTable::push_event`]: the rekey task drains then.
    events_ready: tokio::sync::Notify,
    /// Outer peers on the move: packets for them wait for the SA move
    /// (leaving.rs).
    leaving: leaving::Leaving,
    /// Woken on every SA change, for the one task that mirrors the table
    /// into the AF_XDP steering maps (the eventfd above has its own
    /// reader, the TUN sender).
    sas_changed: tokio::sync::Notify,
    /// A fast receive path told of new inbound SPIs before they are
    /// installed (steering.rs).
    steering: Mutex<Option<std::sync::Arc<dyn steering::InboundSteering>>>,
}

/// Where misses go, and which destinations the slow path can set up SAs
/// for (HITs when HIP runs); packets to others are dropped, not held.
struct MissSink {
    tx: tokio::sync::mpsc::UnboundedSender<IpAddr>,
    wants: Box<dyn Fn(IpAddr) -> bool + Send + Sync>,
}

impl Drop for SaTable {
    fn drop(&mut self) {
        if self.changed >= 0 {
            // SAFETY: our own eventfd, closed once.
            unsafe { libc::close(self.changed) };
        }
    }
}

fn inner_addrs(src: Option<IpAddr>, dst: Option<IpAddr>) -> Option<InnerAddrs> {
    match (src?, dst?) {
        (IpAddr::V6(src), IpAddr::V6(dst)) => Some(InnerAddrs::V6 { src, dst }),
        (IpAddr::V4(src), IpAddr::V4(dst)) => Some(InnerAddrs::V4 { src, dst }),
        _ => None,
    }
}

impl SaTable {
    pub fn new(export: Option<PathBuf>) -> SaTable {
        // SAFETY: plain eventfd(2).
        let changed = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        SaTable {
            tables: RwLock::default(),
            counters: EspCounters::default(),
            events: Mutex::default(),
            export,
            changed,
            holding: false.into(),
            misses: Mutex::default(),
            first_esp: Mutex::default(),
            given_up: Mutex::default(),
            soft_limit: proxy_proto::esp::sa::DEFAULT_SOFT_LIMIT.into(),
            events_ready: tokio::sync::Notify::new(),
            sas_changed: tokio::sync::Notify::new(),
            leaving: leaving::Leaving::default(),
            steering: Mutex::default(),
        }
    }

    /// Outbound SAs installed from now on raise [`SaEvent::RekeyNeeded`]
    /// once their sequence number reaches `packets`.
    pub fn set_soft_limit(&self, packets: u32) {
        self.soft_limit.store(packets, std::sync::atomic::Ordering::Relaxed);
    }

    /// The eventfd that becomes readable when SAs change while
    /// [`SaTable::set_holding`] says packets wait (poll it; read to reset
    /// with [`SaTable::ack_changed`]).
    pub fn changed_fd(&self) -> std::os::fd::RawFd {
        self.changed
    }

    /// The TUN sender holds packets (or no longer does). Having set it,
    /// the sender looks at the table once more: a change that came
    /// between its miss and this call did not signal.
    pub fn set_holding(&self, holding: bool) {
        use std::sync::atomic::{Ordering, fence};
        self.holding.store(holding, Ordering::SeqCst);
        // Pairs with the fence in signal_changed: either the sender's next
        // look sees the change, or the change sees the flag.
        fence(Ordering::SeqCst);
    }

    /// Reset the change signal.
    pub fn ack_changed(&self) {
        let mut v = 0u64;
        // SAFETY: reading 8 bytes from our eventfd into a u64.
        unsafe { libc::read(self.changed, (&mut v as *mut u64).cast(), 8) };
    }

    /// Resolves after the next SA change (or at once if one happened since
    /// the last call: the permit is kept). One waiter.
    pub async fn sas_changed(&self) {
        self.sas_changed.notified().await
    }

    fn signal_changed(&self) {
        use std::sync::atomic::{Ordering, fence};
        self.sas_changed.notify_one();
        fence(Ordering::SeqCst);
        if !self.holding.load(Ordering::SeqCst) {
            return;
        }
        let one = 1u64;
        // SAFETY: writing 8 bytes to our eventfd.
        unsafe { libc::write(self.changed, (&one as *const u64).cast(), 8) };
    }

    /// Route "no SA for this inner destination" reports to `tx`, for the
    /// destinations `wants` accepts (called by a worker once per
    /// destination it starts holding for: quick, never blocking).
    pub fn set_miss_sender(
        &self,
        tx: tokio::sync::mpsc::UnboundedSender<IpAddr>,
        wants: impl Fn(IpAddr) -> bool + Send + Sync + 'static,
    ) {
        *self.misses.lock().unwrap_or_else(|e| e.into_inner()) = Some(MissSink { tx, wants: Box::new(wants) });
    }

    /// The slow path cannot set up an SA for `dst` (E-FAILED): wake the
    /// workers so they drop (and count) what they hold for it now; the next
    /// packet reports a new miss.
    pub fn give_up(&self, dst: IpAddr) {
        self.given_up.lock().unwrap_or_else(|e| e.into_inner()).push(dst);
        self.signal_changed();
    }

    /// Destinations given up since the last call (for the worker).
    pub fn take_given_up(&self) -> Vec<IpAddr> {
        std::mem::take(&mut *self.given_up.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Route "first packet on an inbound SA" reports to `tx`.
    pub fn set_first_esp_sender(&self, tx: tokio::sync::mpsc::UnboundedSender<(IpAddr, IpAddr, u32)>) {
        *self.first_esp.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
    }

    /// A worker opened the first packet of the inbound SA `spi` with these
    /// inner addresses (BEET only; nobody listening is fine).
    pub fn report_first_esp(&self, e: &InEntry, spi: u32) {
        if let (Some(l), Some(p), Some(tx)) =
            (e.meta.inner_local, e.meta.inner_peer, &*self.first_esp.lock().unwrap_or_else(|e| e.into_inner()))
        {
            let _ = tx.send((l, p, spi));
        }
    }

    /// A worker would hold packets for `dst`, which has no SA: tell the
    /// slow path. False when nobody will set one up (drop the packet).
    pub fn report_miss(&self, dst: IpAddr) -> bool {
        // A peer on the move: its SA is there, and moves soon (leaving.rs).
        // The slow path hears of it too when it wants the address.
        let moving = self.leaving.holds(dst);
        if moving {
            self.counters.inc(Counter::HeldMoving);
        }
        let told = match &*self.misses.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(m) => (m.wants)(dst) && m.tx.send(dst).is_ok(),
            None => false,
        };
        moving || told
    }

    /// A rekey's switch (RFC 7402 §6.10): the outbound SA `old_spi` gives
    /// way to `new` in one step, so a worker finds either one or the other
    /// for the peer, never none (a miss would start a base exchange).
    /// `old_spi` already gone is fine.
    pub fn switch_outbound(&self, old_spi: u32, new: ValidSa) -> Result<(), SaError> {
        if new.spec.direction != Direction::Out {
            return Err(SaError::Invalid("switch_outbound wants an outbound SA".into()));
        }
        {
            let mut t = self.write();
            if t.outbound.contains_key(&new.spec.spi) {
                return Err(SaError::Duplicate(Direction::Out, new.spec.spi));
            }
            // The selector may be taken by the SA being replaced only.
            let taken = match new.spec.inner_peer {
                Some(p) => t.out_by_inner.get(&p).copied(),
                None => t.out_default,
            };
            if let Some(spi) = taken.filter(|&s| s != old_spi) {
                let who = new.spec.inner_peer.map_or("(default)".into(), |p| p.to_string());
                return Err(SaError::DuplicateSelector(who, spi));
            }
            let new_spi = new.spec.spi;
            // New keys, same peer address: a credit toward an address not
            // verified yet (the VPN gateway's, RFC 8046 §5.4) carries on.
            let mut credit = None;
            // So do the outer addresses the old SA was also named by: the
            // care-of address a mobile node just left (leaving.rs) names
            // the SA until its next move, rekeyed or not.
            let mut aliases = Vec::new();
            if let Some(old) = t.outbound.remove(&old_spi) {
                credit = old.state.lock().unwrap_or_else(|e| e.into_inner()).credit;
                t.out_by_inner.retain(|_, s| *s != old_spi);
                t.out_by_peer.retain(|a, s| {
                    if *s == old_spi {
                        aliases.push(*a);
                    }
                    *s != old_spi
                });
                if t.out_default == Some(old_spi) {
                    t.out_default = None;
                }
            }
            Self::check_free(&t, &new)?;
            Self::insert(&mut t, new, self.soft_limit())?;
            if let Some(e) = t.outbound.get(&new_spi) {
                e.state.lock().unwrap_or_else(|e| e.into_inner()).credit = credit;
                if e.mode == Mode::Tunnel {
                    for a in aliases {
                        t.out_by_peer.entry(a).or_insert(new_spi);
                    }
                }
            }
        }
        self.export_keys();
        self.signal_changed();
        Ok(())
    }

    /// Packets opened so far on the inbound SA `spi` (None: no such SA).
    pub fn inbound_packets(&self, spi: u32) -> Option<u64> {
        let t = self.read();
        let e = t.inbound.get(&spi)?;
        let st = e.state.lock().unwrap_or_else(|e| e.into_inner());
        Some(st.sa.counters().packets)
    }

    /// Remove every SA (both directions) bound to the inner peer address
    /// `inner_peer`: a re-established or closed association. Returns how
    /// many went.
    pub fn remove_peer(&self, inner_peer: IpAddr) -> usize {
        let n = {
            let mut t = self.write();
            let out: Vec<u32> =
                t.outbound.iter().filter(|(_, e)| e.meta.inner_peer == Some(inner_peer)).map(|(s, _)| *s).collect();
            let inb: Vec<u32> =
                t.inbound.iter().filter(|(_, e)| e.meta.inner_peer == Some(inner_peer)).map(|(s, _)| *s).collect();
            for spi in &out {
                t.outbound.remove(spi);
                if t.out_default == Some(*spi) {
                    t.out_default = None;
                }
            }
            t.out_by_inner.retain(|_, s| !out.contains(s));
            t.out_by_peer.retain(|_, s| !out.contains(s));
            for spi in &inb {
                t.inbound.remove(spi);
            }
            out.len() + inb.len()
        };
        if n > 0 {
            self.export_keys();
            self.signal_changed();
        }
        n
    }

    /// The lookup tables, for a worker's batch.
    pub fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Install one SA direction.
    pub fn install(&self, v: ValidSa) -> Result<(), SaError> {
        self.steer_new(&v);
        {
            let mut t = self.write();
            Self::check_free(&t, &v)?;
            Self::insert(&mut t, v, self.soft_limit())?;
        }
        self.export_keys();
        self.signal_changed();
        Ok(())
    }

    /// Install both directions of an association at once (the HIP driver
    /// on an Established event): either both go in or neither.
    pub fn install_pair(&self, outbound: ValidSa, inbound: ValidSa) -> Result<(), SaError> {
        if outbound.spec.direction != Direction::Out || inbound.spec.direction != Direction::In {
            return Err(SaError::Invalid("install_pair wants an outbound and an inbound SA".into()));
        }
        self.steer_new(&inbound);
        {
            let mut t = self.write();
            Self::check_free(&t, &outbound)?;
            Self::check_free(&t, &inbound)?;
            Self::insert(&mut t, outbound, self.soft_limit())?;
            Self::insert(&mut t, inbound, self.soft_limit())?;
        }
        self.export_keys();
        self.signal_changed();
        Ok(())
    }

    fn check_free(t: &Tables, v: &ValidSa) -> Result<(), SaError> {
        let s = &v.spec;
        match s.direction {
            Direction::In if t.inbound.contains_key(&s.spi) => Err(SaError::Duplicate(Direction::In, s.spi)),
            Direction::Out if t.outbound.contains_key(&s.spi) => Err(SaError::Duplicate(Direction::Out, s.spi)),
            Direction::Out => match s.inner_peer {
                Some(p) => match t.out_by_inner.get(&p) {
                    Some(&spi) => Err(SaError::DuplicateSelector(p.to_string(), spi)),
                    None => Ok(()),
                },
                None => match t.out_default {
                    Some(spi) => Err(SaError::DuplicateSelector("(default)".into(), spi)),
                    None => Ok(()),
                },
            },
            Direction::In => Ok(()),
        }
    }

    fn soft_limit(&self) -> u32 {
        self.soft_limit.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn insert(t: &mut Tables, v: ValidSa, soft_limit: u32) -> Result<(), SaError> {
        let s = v.spec;
        let cipher = EspCipher::new(v.transform, &v.key).map_err(|e| SaError::Key(e.to_string()))?;
        let mode = s.mode.mode();
        let meta = Meta {
            transform: v.transform,
            key: v.key,
            inner_local: s.inner_local,
            inner_peer: s.inner_peer,
            from_hip: v.from_hip,
            hip_peer: v.hip_peer,
        };
        match s.direction {
            Direction::Out => {
                let inner = if mode == Mode::Beet { inner_addrs(s.inner_local, s.inner_peer) } else { None };
                let entry = OutEntry {
                    mode,
                    inner,
                    state: Mutex::new(OutState {
                        sa: OutboundSa::new(s.spi, cipher).with_soft_limit(soft_limit),
                        local: s.local,
                        peer: s.peer,
                        credit: None,
                    }),
                    meta,
                };
                match s.inner_peer {
                    Some(p) => {
                        t.out_by_inner.insert(p, s.spi);
                    }
                    None => t.out_default = Some(s.spi),
                }
                if mode == Mode::Tunnel {
                    t.out_by_peer.insert(s.peer, s.spi);
                }
                t.outbound.insert(s.spi, entry.into());
            }
            Direction::In => {
                let inner = if mode == Mode::Beet { inner_addrs(s.inner_peer, s.inner_local) } else { None };
                let entry = InEntry {
                    mode,
                    inner,
                    wildcard_source: s.wildcard_source,
                    state: Mutex::new(InState {
                        sa: InboundSa::new(s.spi, cipher).with_mode(mode),
                        local: s.local,
                        peer: s.peer,
                        bad_source: 0,
                    }),
                    meta,
                };
                t.inbound.insert(s.spi, entry.into());
            }
        }
        Ok(())
    }

    /// Remove one SA direction.
    pub fn remove(&self, direction: Direction, spi: u32) -> Result<(), SaError> {
        {
            let mut t = self.write();
            match direction {
                Direction::In => {
                    t.inbound.remove(&spi).ok_or(SaError::NotFound(direction, spi))?;
                }
                Direction::Out => {
                    t.outbound.remove(&spi).ok_or(SaError::NotFound(direction, spi))?;
                    t.out_by_inner.retain(|_, s| *s != spi);
                    t.out_by_peer.retain(|_, s| *s != spi);
                    if t.out_default == Some(spi) {
                        t.out_default = None;
                    }
                }
            }
        }
        self.export_keys();
        Ok(())
    }

    /// Move an SA's outer addresses without rekeying (HIP mobility, RFC
    /// 8046 §3.2; VPN handover): sequence numbers and replay windows carry
    /// on.
    /// An outbound SA's credit ([`SaTable::set_credit`]) is left as it is.
    pub fn move_outer(&self, direction: Direction, spi: u32, local: IpAddr, peer: IpAddr) -> Result<(), SaError> {
        self.move_outer_inner(direction, spi, local, peer, None)
    }

    /// [`SaTable::move_outer`] that also sets what an outbound SA may send
    /// to the new peer address (`credit`, as [`SaTable::set_credit`]: an
    /// unverified HIP locator under credit-based authorization, RFC 8046
    /// §5.5; `None` lifts the limit), under the same lock, so no packet
    /// slips past it.
    pub fn move_outer_with_credit(
        &self,
        direction: Direction,
        spi: u32,
        local: IpAddr,
        peer: IpAddr,
        credit: Option<u64>,
    ) -> Result<(), SaError> {
        self.move_outer_inner(direction, spi, local, peer, Some(credit))
    }

    fn move_outer_inner(
        &self,
        direction: Direction,
        spi: u32,
        local: IpAddr,
        peer: IpAddr,
        credit: Option<Option<u64>>,
    ) -> Result<(), SaError> {
        if local.is_ipv4() != peer.is_ipv4() {
            return Err(SaError::Invalid(format!("local {local} and peer {peer} differ in family")));
        }
        {
            let mut t = self.write();
            match direction {
                Direction::Out => {
                    let e = t.outbound.get(&spi).ok_or(SaError::NotFound(direction, spi))?.clone();
                    let mut s = e.state.lock().unwrap_or_else(|e| e.into_inner());
                    let from = s.peer;
                    (s.local, s.peer) = (local, peer);
                    if let Some(c) = credit {
                        s.credit = c;
                    }
                    drop(s);
                    if e.mode == Mode::Tunnel {
                        t.out_by_peer.retain(|_, s| *s != spi);
                        t.out_by_peer.insert(peer, spi);
                        self.moved(&mut t, spi, from, peer);
                    }
                }
                Direction::In => {
                    let e = t.inbound.get(&spi).ok_or(SaError::NotFound(direction, spi))?;
                    let mut s = e.state.lock().unwrap_or_else(|e| e.into_inner());
                    (s.local, s.peer) = (local, peer);
                }
            }
        }
        if direction == Direction::Out {
            // A tunnel SA now reaches a new outer peer: packets a worker
            // holds for it (the VPN gateway's, sent by the home agent to the
            // new care-of address before the SA moved) go out at once.
            self.signal_changed();
        }
        self.export_keys();
        Ok(())
    }

    /// Limit what the data path may still send on the outbound SA `spi`
    /// to `credit` bytes of sealed packets (`None`: no limit). The VPN
    /// gateway sets it before moving the SA to a care-of address that is
    /// not verified yet and lifts it once it is (credit-based
    /// authorization, RFC 8046 §5.4); the control plane's own packets
    /// (`HostPath::send_inner`) are not charged.
    pub fn set_credit(&self, spi: u32, credit: Option<u64>) -> Result<(), SaError> {
        let t = self.read();
        let e = t.outbound.get(&spi).ok_or(SaError::NotFound(Direction::Out, spi))?;
        e.state.lock().unwrap_or_else(|e| e.into_inner()).credit = credit;
        Ok(())
    }

    /// Record an SA event raised in a worker; the control plane drains them.
    pub fn push_event(&self, ev: SaEvent) {
        self.counters.inc(Counter::SaEvents);
        tracing::warn!(?ev, "ESP SA event");
        self.events.lock().unwrap_or_else(|e| e.into_inner()).push(ev);
        self.events_ready.notify_one();
    }

    /// Wait until [`SaTable::push_event`] has something (a stored permit
    /// covers an event pushed before the wait began).
    pub async fn events_pushed(&self) {
        self.events_ready.notified().await
    }

    /// The peer HIT of a HIP-keyed outbound SA (BEET: its inner peer; a
    /// VPN tunnel SA: the HIT it was installed with): whom to rekey with
    /// when that SA ages.
    pub fn hip_peer_of_outbound(&self, spi: u32) -> Option<IpAddr> {
        let t = self.read();
        let e = t.outbound.get(&spi)?;
        if e.meta.from_hip { e.meta.hip_peer.or(e.meta.inner_peer) } else { None }
    }

    /// Events since the last call (rekey requests for the HIP driver).
    pub fn drain_events(&self) -> Vec<SaEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Every SA, sorted by direction then SPI; with `keys`, each row gets
    /// its Wireshark `esp_sa` line.
    pub fn list(&self, keys: bool) -> Vec<SaInfo> {
        let t = self.read();
        let mut rows = Vec::new();
        for (spi, e) in &t.outbound {
            let s = e.state.lock().unwrap_or_else(|e| e.into_inner());
            let c = s.sa.counters();
            rows.push(SaInfo {
                spi: *spi,
                direction: Direction::Out,
                mode: mode_name(e.mode),
                transform: transform_name(e.meta.transform).into(),
                local: s.local,
                peer: s.peer,
                inner_local: e.meta.inner_local,
                inner_peer: e.meta.inner_peer,
                wildcard_source: false,
                packets: c.packets,
                bytes: c.bytes,
                sequence: c.packets,
                drop_replay: 0,
                drop_icv: 0,
                drop_other: 0,
                origin: origin(&e.meta),
                esp_sa: keys.then(|| export_line(s.local, s.peer, *spi, &e.meta)).flatten(),
            });
        }
        for (spi, e) in &t.inbound {
            let s = e.state.lock().unwrap_or_else(|e| e.into_inner());
            let c = s.sa.counters();
            let d = c.drops;
            rows.push(SaInfo {
                spi: *spi,
                direction: Direction::In,
                mode: mode_name(e.mode),
                transform: transform_name(e.meta.transform).into(),
                local: s.local,
                peer: s.peer,
                inner_local: e.meta.inner_local,
                inner_peer: e.meta.inner_peer,
                wildcard_source: e.wildcard_source,
                packets: c.packets,
                bytes: c.bytes,
                sequence: s.sa.window().top(),
                drop_replay: d.replay,
                drop_icv: d.bad_icv,
                drop_other: d.truncated + d.wrong_spi + d.bad_padding + d.unknown_next_header + d.dummy + s.bad_source,
                origin: origin(&e.meta),
                esp_sa: keys.then(|| export_line(s.peer, s.local, *spi, &e.meta)).flatten(),
            });
        }
        rows.sort_by_key(|r| (r.direction == Direction::Out, r.spi));
        rows
    }

    /// Rewrite the `esp_sa_export` file, if configured. Failures are
    /// logged: key export is a debugging aid, never a reason to refuse an SA.
    fn export_keys(&self) {
        let Some(path) = &self.export else { return };
        let mut text = String::new();
        for r in self.list(true) {
            if let Some(l) = r.esp_sa {
                text.push_str(&l);
                text.push('\n');
            }
        }
        if let Err(e) = write_private(path, &text) {
            tracing::warn!(path = %path.display(), "cannot write esp_sa export: {e}");
        }
    }
}

fn manual() -> String {
    "manual".into()
}

fn origin(m: &Meta) -> String {
    if m.from_hip { "hip".into() } else { manual() }
}

fn mode_name(m: Mode) -> ModeName {
    match m {
        Mode::Beet => ModeName::Beet,
        Mode::Tunnel => ModeName::Tunnel,
    }
}

fn export_line(src: IpAddr, dst: IpAddr, spi: u32, m: &Meta) -> Option<String> {
    wireshark_esp_sa_line(src, dst, spi, m.transform, &m.key)
}

/// Write a file readable by its owner only (it holds keys).
pub fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(text.as_bytes())?;
    std::fs::rename(&tmp, path)
}

mod leaving;
mod steering;
pub use steering::InboundSteering;
#[cfg(test)]
mod tests;
