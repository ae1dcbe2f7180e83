//! [`HipHost`]: the associations of one host keyed by (local HIT, peer
//! HIT), the Responder's R1 pools, and the queues the driver drains.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use core::net::{IpAddr, Ipv6Addr};

use super::DropReason;
use super::association::{AssocInfo, Association, State};
use super::config::HostConfig;
use super::counters::Counters;
use super::event::{Event, FailReason, Transmit};
use super::local::LocalIdentity;
use super::responder::R1Pool;
use super::seal::{MacKind, MacSpec, SigKind, seal};
use crate::hip::crypto::Hit;
use crate::hip::wire::param::dh::DhGroupList;
use crate::hip::wire::param::echo::EchoRequestSigned;
use crate::hip::wire::param::notification::{Notification, NotifyMessageType};
use crate::hip::wire::{Error as WireError, HipPacket, NEXT_HEADER_NONE, Packet, PacketType};

/// Randomness source: fills the buffer (SPIs, DH keys, puzzle start,
/// R1 secrets, IVs, nonces). Tests inject a seeded one.
pub type Rng = Box<dyn FnMut(&mut [u8]) + Send>;

/// Why [`HipHost::initiate`] or [`HipHost::close`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitiateError {
    /// The local HIT is none of ours.
    #[error("no local host identity with HIT {0}")]
    UnknownLocalHit(Ipv6Addr),
    /// No local/peer locator pair was given, or the pair mixes families.
    #[error("no usable locator pair (need at least one, same address family)")]
    NoLocator,
    /// The peer HIT is our own.
    #[error("the peer HIT is one of ours")]
    SelfAssociation,
    /// The peer is not in the allowed-peers list.
    #[error("peer {0} is not allowed by local policy")]
    NotAllowed(Ipv6Addr),
    /// Close: there is no established association with the peer.
    #[error("no established association with {0}")]
    NotEstablished(Ipv6Addr),
    /// Rekey: one is already under way with this peer (ours or its), or
    /// another UPDATE of ours awaits its ACK (RFC 7401 §6.11: one at a time).
    #[error("a rekey or UPDATE with {0} is already under way")]
    RekeyInProgress(Ipv6Addr),
    /// Building the packet failed.
    #[error("could not build the packet: {0}")]
    Internal(DropReason),
}

/// Where a rekey's new ESP keys come from (RFC 7402 §6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RekeyKeying {
    /// A new Diffie-Hellman exchange in the UPDATEs: a new KEYMAT, so the
    /// new keys owe nothing to the old ones (the default).
    #[default]
    NewDh,
    /// The next octets of the current KEYMAT (cheaper, no forward
    /// secrecy); a new DH all the same once the KEYMAT is used up.
    Keymat,
}

/// Index of a packet type in [`Counters::received`] / `sent`.
pub(super) fn type_index(t: PacketType) -> Option<usize> {
    Some(match t {
        PacketType::I1 => 0,
        PacketType::R1 => 1,
        PacketType::I2 => 2,
        PacketType::R2 => 3,
        PacketType::Notify => 4,
        PacketType::Close => 5,
        PacketType::CloseAck => 6,
        _ => return None,
    })
}

/// A local identity and its R1s.
pub(super) struct Local {
    pub id: LocalIdentity,
    pub pool: R1Pool,
}

/// A HIP host: one or more local identities, their associations, and
/// the Responder's R1 pools.
pub struct HipHost {
    pub(super) cfg: HostConfig,
    pub(super) locals: Vec<Local>,
    pub(super) assocs: HashMap<(Hit, Hit), Association>,
    pub(super) allowed_peers: Option<HashSet<Hit>>,
    pub(super) rng: Rng,
    pub(super) transmits: VecDeque<Transmit>,
    pub(super) events: VecDeque<Event>,
    pub(super) counters: Counters,
    /// Start of the current NOTIFY rate window and NOTIFYs sent in it.
    notify_window: Option<(Instant, u32)>,
    /// Registrar: registrations we granted, by client HIT (RFC 8003).
    pub(super) granted: HashMap<Hit, super::registration::Granted>,
    /// Client: registrations we want or hold, by registrar HIT.
    pub(super) held: HashMap<Hit, super::registration::Held>,
}

impl HipHost {
    /// A host with these identities (at least one) and settings.
    pub fn new(cfg: HostConfig, identities: Vec<LocalIdentity>, rng: Rng) -> Self {
        HipHost {
            cfg,
            locals: identities.into_iter().map(|id| Local { id, pool: R1Pool::new() }).collect(),
            assocs: HashMap::new(),
            allowed_peers: None,
            rng,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            notify_window: None,
            granted: HashMap::new(),
            held: HashMap::new(),
        }
    }

    /// Only these peers may associate (None: anyone). Enforced on I1, R1
    /// and I2, before any expensive work.
    pub fn set_allowed_peers(&mut self, peers: Option<HashSet<Hit>>) {
        self.allowed_peers = peers;
    }

    /// Our HITs, in configuration order.
    pub fn local_hits(&self) -> Vec<Hit> {
        self.locals.iter().map(|l| l.id.hit).collect()
    }

    /// The settings.
    pub fn config(&self) -> &HostConfig {
        &self.cfg
    }

    /// Packet and drop counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// (R1_COUNTER, #K) of the current R1 generation of each local HIT.
    pub fn r1_generations(&self) -> Vec<(Hit, Option<u64>, Option<u8>)> {
        self.locals.iter().map(|l| (l.id.hit, l.pool.current_counter(), l.pool.current_k())).collect()
    }

    /// Every association, for listing.
    pub fn associations(&self, now: Instant) -> Vec<AssocInfo> {
        let mut v: Vec<AssocInfo> = self.assocs.values().map(|a| a.info(now)).collect();
        v.sort_by_key(|a| (a.local_hit, a.peer_hit));
        v
    }

    /// The association with `peer_hit` (any local HIT), for tests and the CLI.
    pub fn association(&self, now: Instant, peer_hit: &Hit) -> Option<AssocInfo> {
        self.assocs.values().find(|a| a.peer_hit == *peer_hit).map(|a| a.info(now))
    }

    pub(super) fn local_index(&self, hit: &Hit) -> Option<usize> {
        self.locals.iter().position(|l| l.id.hit == *hit)
    }

    pub(super) fn allowed(&self, peer: &Hit) -> bool {
        self.allowed_peers.as_ref().is_none_or(|s| s.contains(peer))
    }

    /// Start a base exchange with `peer_hit` over the given (ours, peer's)
    /// locator pairs, tried in turn on retransmission (§4.4.3). `local_hit`
    /// None means our first identity. An association already in progress
    /// or established is left alone (Ok); a CLOSED or E-FAILED one is
    /// replaced.
    pub fn initiate(
        &mut self,
        now: Instant,
        local_hit: Option<Hit>,
        peer_hit: Hit,
        paths: Vec<(IpAddr, IpAddr)>,
    ) -> Result<State, InitiateError> {
        let li = match local_hit {
            Some(h) => self.local_index(&h).ok_or(InitiateError::UnknownLocalHit(h.to_ipv6()))?,
            None => 0,
        };
        let local_hit = self.locals.get(li).ok_or(InitiateError::UnknownLocalHit(Ipv6Addr::UNSPECIFIED))?.id.hit;
        if self.local_index(&peer_hit).is_some() {
            return Err(InitiateError::SelfAssociation);
        }
        if !self.allowed(&peer_hit) {
            return Err(InitiateError::NotAllowed(peer_hit.to_ipv6()));
        }
        let paths: Vec<_> = paths.into_iter().filter(|(a, b)| a.is_ipv4() == b.is_ipv4()).collect();
        if paths.is_empty() {
            return Err(InitiateError::NoLocator);
        }
        if let Some(a) = self.assocs.get(&(local_hit, peer_hit))
            && !matches!(a.state, State::Closed | State::EFailed)
        {
            return Ok(a.state);
        }
        // §5.3.1: I1 = header + DH_GROUP_LIST.
        let groups = self.cfg.dh_groups.to_list();
        let i1 = HipPacket {
            next_header: NEXT_HEADER_NONE,
            packet_type: PacketType::I1,
            controls: 0,
            sender_hit: local_hit.to_ipv6(),
            receiver_hit: peer_hit.to_ipv6(),
            params: vec![DhGroupList { groups: groups.clone() }.into()],
        };
        let bytes = i1.to_bytes().map_err(|_| InitiateError::Internal(DropReason::Internal))?;
        let mut a = Association::new(local_hit, peer_hit, paths, now, State::I1Sent);
        a.i1_groups = groups;
        a.pending = Some(bytes.clone());
        a.arm(now, self.cfg.retransmit_initial);
        let (src, dst) = (a.local_locator, a.peer_locator);
        self.assocs.insert((local_hit, peer_hit), a);
        self.send(src, dst, bytes);
        Ok(State::I1Sent)
    }

    /// Close the association with `peer_hit` (§5.3.6): CLOSE with a
    /// signed nonce, CLOSING until the CLOSE_ACK.
    pub fn close(&mut self, now: Instant, local_hit: Option<Hit>, peer_hit: Hit) -> Result<(), InitiateError> {
        let li = match local_hit {
            Some(h) => self.local_index(&h).ok_or(InitiateError::UnknownLocalHit(h.to_ipv6()))?,
            None => 0,
        };
        let key = (self.locals[li].id.hit, peer_hit);
        let Some(a) = self.assocs.get(&key).filter(|a| matches!(a.state, State::Established | State::R2Sent)) else {
            return Err(InitiateError::NotEstablished(peer_hit.to_ipv6()));
        };
        let mut nonce = vec![0u8; 16];
        (self.rng)(&mut nonce);
        let s = a.session.as_ref().ok_or(InitiateError::NotEstablished(peer_hit.to_ipv6()))?;
        let pkt = HipPacket {
            next_header: NEXT_HEADER_NONE,
            packet_type: PacketType::Close,
            controls: 0,
            sender_hit: key.0.to_ipv6(),
            receiver_hit: peer_hit.to_ipv6(),
            params: vec![EchoRequestSigned { opaque: nonce.clone() }.into()],
        };
        let mac = MacSpec { kind: MacKind::Mac, suite: s.suite, key: &s.hip_keys.outbound.integrity };
        let bytes = seal(pkt, Some(mac), Some((&self.locals[li].id, SigKind::Sig))).map_err(InitiateError::Internal)?;
        let a = self.assocs.get_mut(&key).ok_or(InitiateError::NotEstablished(peer_hit.to_ipv6()))?;
        a.set_state(State::Closing, now);
        a.close_nonce = Some(nonce);
        a.pending = Some(bytes.clone());
        a.arm(now, self.cfg.retransmit_initial);
        let (src, dst) = (a.local_locator, a.peer_locator);
        self.send(src, dst, bytes);
        Ok(())
    }

    /// Drop every association with `peer_hit` without telling the peer
    /// (an administrative flush; CLOSE is the polite way). Returns how
    /// many went.
    pub fn forget(&mut self, peer_hit: &Hit) -> usize {
        let before = self.assocs.len();
        self.assocs.retain(|(_, p), _| p != peer_hit);
        before - self.assocs.len()
    }

    /// ESP arrived on the association's inbound SA: R2-SENT moves to
    /// ESTABLISHED (§4.4.2). The ESP datapath calls this.
    pub fn esp_received(&mut self, now: Instant, local_hit: Hit, peer_hit: Hit) {
        if let Some(a) = self.assocs.get_mut(&(local_hit, peer_hit))
            && a.state == State::R2Sent
        {
            a.set_state(State::Established, now);
        }
    }

    /// A HIP packet (the IP payload) arrived from `src` to `dst`.
    pub fn handle_packet(&mut self, now: Instant, src: IpAddr, dst: IpAddr, bytes: &[u8]) {
        if let Err(reason) = self.process(now, src, dst, bytes) {
            self.counters.drop(reason);
        }
    }

    fn process(&mut self, now: Instant, src: IpAddr, dst: IpAddr, bytes: &[u8]) -> Result<(), DropReason> {
        let view = Packet::new_checked(bytes).map_err(|_| DropReason::Malformed)?;
        view.check_len().map_err(|_| DropReason::Malformed)?;
        view.verify_checksum(src, dst).map_err(|_| DropReason::BadChecksum)?;
        let bytes = &bytes[..view.packet_len()];
        if let Some(i) = type_index(view.packet_type()) {
            self.counters.received[i] += 1;
        }
        let receiver = Hit::from(view.receiver_hit());
        let sender = Hit::from(view.sender_hit());
        let pkt = match HipPacket::parse(&view) {
            Ok(p) => p,
            Err(WireError::UnsupportedCriticalParam { ty }) => {
                // §5.2.1: drop, and tell the sender which type.
                if let Some(li) = self.local_index(&receiver) {
                    self.notify(now, li, sender, dst, src, Notification::unsupported_critical_parameter(ty));
                }
                return Err(DropReason::UnsupportedCriticalParam);
            }
            Err(_) => return Err(DropReason::Malformed),
        };
        if receiver.to_ipv6().is_unspecified() {
            return Err(DropReason::Opportunistic);
        }
        if pkt.packet_type == PacketType::I1 && self.local_index(&receiver).is_none() && self.cfg.registrar.is_some() {
            // RFC 8004 §3.2: an I1 for a HIT registered with us goes on.
            return self.relay_i1(now, pkt, src);
        }
        let li = self.local_index(&receiver).ok_or(DropReason::UnknownHit)?;
        if !self.allowed(&sender) {
            return Err(DropReason::PeerNotAllowed);
        }
        match pkt.packet_type {
            PacketType::I1 => {
                let (reply_to, via) = self.check_relayed_i1(li, &pkt, bytes, src)?;
                self.on_i1(now, li, &pkt, reply_to, dst, via)
            }
            PacketType::R1 => self.on_r1(now, li, &pkt, bytes, src, dst),
            PacketType::I2 => self.on_i2(now, li, &pkt, bytes, src, dst),
            PacketType::R2 => self.on_r2(now, li, &pkt, bytes),
            PacketType::Notify => self.on_notify(li, &pkt, bytes),
            PacketType::Close => self.on_close(now, li, &pkt, bytes),
            PacketType::CloseAck => self.on_close_ack(now, li, &pkt, bytes),
            PacketType::Update => self.on_update(now, li, &pkt, bytes, src, dst),
            _ => Err(DropReason::UnsupportedPacketType),
        }
    }

    /// The earliest deadline: a retransmission, a state expiry or an R1
    /// rotation.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let assoc = self.assocs.values().filter_map(|a| a.deadline);
        let updates = self.assocs.values().filter_map(|a| a.update.deadline());
        let refresh = self.held.values().filter_map(|h| h.refresh_at);
        let expiry = self.granted.values().map(|g| g.expires);
        let pools = self.locals.iter().filter_map(|l| l.pool.next_rotation(&self.cfg));
        assoc.chain(updates).chain(refresh).chain(expiry).chain(pools).min()
    }

    /// Act on every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for l in &mut self.locals {
            if l.pool.on_timeout(now, &self.cfg, &mut self.rng) {
                self.counters.r1_generations += 1;
            }
        }
        let due: Vec<(Hit, Hit)> =
            self.assocs.iter().filter(|(_, a)| a.deadline.is_some_and(|d| d <= now)).map(|(k, _)| *k).collect();
        for key in due {
            self.on_deadline(now, key);
        }
        self.update_timeouts(now);
        self.registration_timeouts(now);
    }

    fn on_deadline(&mut self, now: Instant, key: (Hit, Hit)) {
        let max = self.cfg.max_retransmits;
        let initial = self.cfg.retransmit_initial;
        let Some(a) = self.assocs.get_mut(&key) else { return };
        match a.state {
            State::I1Sent | State::I2Sent | State::Closing if a.retransmits < max => {
                a.retransmits += 1;
                if a.state == State::I1Sent {
                    // Try the next locator pair (§4.4.3 leaves it to policy).
                    let (l, p) = a.paths[a.retransmits as usize % a.paths.len()];
                    a.local_locator = l;
                    a.peer_locator = p;
                }
                a.arm(now, initial);
                let (src, dst) = (a.local_locator, a.peer_locator);
                if let Some(bytes) = a.pending.clone() {
                    self.counters.retransmits += 1;
                    self.send(src, dst, bytes);
                }
            }
            State::I1Sent | State::I2Sent => {
                let what = if a.state == State::I1Sent { "I1" } else { "I2" };
                a.set_state(State::EFailed, now);
                a.deadline = Some(now + self.cfg.linger);
                a.pending = None;
                self.counters.failed += 1;
                self.events.push_back(Event::Failed {
                    local_hit: key.0,
                    peer_hit: key.1,
                    reason: FailReason::Timeout(what),
                });
            }
            State::Closing => {
                let spi = a.session.as_ref().map_or(0, |s| s.inbound_spi);
                a.set_state(State::Closed, now);
                a.deadline = Some(now + self.cfg.linger);
                self.events.push_back(Event::Closed { local_hit: key.0, peer_hit: key.1, inbound_spi: spi });
            }
            State::R2Sent => a.set_state(State::Established, now),
            State::Closed | State::EFailed => {
                self.assocs.remove(&key);
            }
            State::Established => a.deadline = None,
        }
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Queue `bytes` (checksum zero) from `src` to `dst`, filling the
    /// checksum for those addresses.
    pub(super) fn send(&mut self, src: IpAddr, dst: IpAddr, mut bytes: Vec<u8>) {
        let mut view = Packet::new_unchecked(&mut bytes[..]);
        if view.fill_checksum(src, dst).is_err() {
            self.counters.drop(DropReason::Internal);
            return;
        }
        if let Some(i) = type_index(view.packet_type()) {
            self.counters.sent[i] += 1;
        }
        self.transmits.push_back(Transmit { src, dst, payload: bytes });
    }

    /// Send a signed NOTIFY (§5.3.8) to `peer` at `dst`, at most
    /// `notify_per_sec` per second: each costs a signature, and an
    /// attacker should not be able to make us sign at line rate.
    pub(super) fn notify(
        &mut self,
        now: Instant,
        li: usize,
        peer: Hit,
        src: IpAddr,
        dst: IpAddr,
        notification: Notification,
    ) {
        let (start, count) = self.notify_window.get_or_insert((now, 0));
        if now.saturating_duration_since(*start).as_secs() >= 1 {
            *start = now;
            *count = 0;
        }
        if *count >= self.cfg.notify_per_sec {
            return;
        }
        *count += 1;
        let pkt = HipPacket {
            next_header: NEXT_HEADER_NONE,
            packet_type: PacketType::Notify,
            controls: 0,
            sender_hit: self.locals[li].id.hit.to_ipv6(),
            receiver_hit: peer.to_ipv6(),
            params: vec![notification.into()],
        };
        match seal(pkt, None, Some((&self.locals[li].id, SigKind::Sig))) {
            Ok(bytes) => self.send(src, dst, bytes),
            Err(r) => self.counters.drop(r),
        }
    }

    /// NOTIFY with just a message type.
    pub(super) fn notify_type(
        &mut self,
        now: Instant,
        li: usize,
        peer: Hit,
        src: IpAddr,
        dst: IpAddr,
        t: NotifyMessageType,
    ) {
        self.notify(now, li, peer, src, dst, Notification { message_type: t, data: Vec::new() });
    }
}
