//! UPDATE (RFC 7401 §5.3.5, §6.11, §6.12) for mobility (RFC 8046 §3.2,
//! §5) and registration refresh (RFC 8003 §3.3).
//!
//! Mobility, three packets: the moving host sends UPDATE(SEQ, LOCATOR_SET,
//! ESP_INFO) from its new address; the peer checks the new locator with
//! UPDATE(SEQ, ACK, ECHO_REQUEST_SIGNED, ESP_INFO) sent *to it* (RFC 8046
//! §5.3.2, against traffic redirection); the mover answers UPDATE(ACK,
//! ECHO_RESPONSE_SIGNED). Only then does the peer use the new locator. All
//! carry HIP_MAC and HIP_SIGNATURE; one that fails them changes nothing.

use std::time::Instant;

use core::net::IpAddr;

use super::locator_set::{Plan, listed, our_locator_set, plan, same_family, valid_until};
use super::*;
use crate::hip::assoc::counters::MobilityCounters;
use crate::hip::assoc::update_state::{EchoCheck, InFlight};
use crate::hip::wire::param::locator::LocatorSet;
use crate::hip::wire::param::registration::RegRequest;
use crate::hip::wire::param::update::{Ack, Seq};

/// Retransmissions of a locator announcement before a double jump is
/// assumed and the RVS tried (with 500 ms initial: after 1.5 s).
const ANNOUNCE_TRIES_BEFORE_RVS: u32 = 1;

impl HipHost {
    /// The associations with keys whose local locator is no longer among
    /// `addresses`: what a move has to carry to a new address. Peers we
    /// exchange data with first, registrars (the RVS) last: the driver
    /// sends each UPDATE as soon as it is signed, so the data path's
    /// peers do not wait for the rendezvous server's signature.
    pub fn stranded(&self, addresses: &[IpAddr]) -> Vec<(Hit, Hit)> {
        let mut keys: Vec<(Hit, Hit)> = self
            .assocs
            .iter()
            .filter(|(_, a)| matches!(a.state, State::Established | State::R2Sent) && a.session.is_some())
            .filter(|(_, a)| !addresses.contains(&a.local_locator))
            .map(|(k, _)| *k)
            .collect();
        keys.sort_by_key(|k| (self.held.contains_key(&k.1), *k));
        keys
    }

    /// Our addresses are now `addresses` (from the driver's address
    /// watcher): every association whose locator is gone moves to one of
    /// the same family and tells the peer with UPDATE(LOCATOR_SET) (RFC
    /// 8046 §3.2.1). Returns how many associations moved.
    pub fn update_locators(&mut self, now: Instant, addresses: &[IpAddr]) -> usize {
        let keys = self.stranded(addresses);
        keys.into_iter().filter(|&key| self.update_locator(now, key, addresses)).count()
    }

    /// [`HipHost::update_locators`] for one association of
    /// [`HipHost::stranded`]: whether it moved (and its UPDATE is queued).
    pub fn update_locator(&mut self, now: Instant, key: (Hit, Hit), addresses: &[IpAddr]) -> bool {
        let Some(a) = self.assocs.get_mut(&key) else { return false };
        if !matches!(a.state, State::Established | State::R2Sent) || addresses.contains(&a.local_locator) {
            return false;
        }
        let Some(&new) = addresses.iter().find(|x| x.is_ipv4() == a.peer_locator.is_ipv4()) else { return false };
        let Some(s) = a.session.as_ref() else { return false };
        let spi = s.inbound_spi;
        a.local_locator = new;
        let ev = locator_changed(a);
        self.events.push_back(ev);
        // The new address preferred, our others of its family beside it.
        let listed = same_family(new, addresses);
        let set = our_locator_set(spi, new, &listed);
        a.update.announced = listed;
        // RFC 8046 §5.1: ESP_INFO with Old SPI = New SPI: same SA, new address.
        let params = vec![set.into(), EspInfo { keymat_index: 0, old_spi: spi, new_spi: spi }.into()];
        match self.send_update(now, key, params, None, None) {
            Ok(()) => {
                if let Some(f) = self.assocs.get_mut(&key).and_then(|a| a.update.in_flight.as_mut()) {
                    f.announce = true;
                }
                self.counters.mobility.locator_announcements += 1;
                true
            }
            Err(r) => {
                self.counters.drop(r);
                false
            }
        }
    }

    /// Make-before-break (RFC 8046 §3.2.1, §4): each association whose
    /// locator is still ours lists the addresses of its family we gained
    /// since the last announcement beside it (it stays preferred), so the
    /// peer checks them while this one still carries the data, and a move
    /// to one of them later needs no address check before data. Not
    /// toward registrars (a rendezvous server uses the preferred locator
    /// only), and not while another UPDATE of ours is in flight (a rekey:
    /// this is only a head start). Returns how many were announced.
    pub fn announce_added(&mut self, now: Instant, addresses: &[IpAddr]) -> usize {
        let keys: Vec<(Hit, Hit)> = self
            .assocs
            .iter()
            .filter(|(k, a)| {
                matches!(a.state, State::Established | State::R2Sent)
                    && a.session.is_some()
                    && a.update.in_flight.is_none()
                    && !self.held.contains_key(&k.1)
                    && addresses.contains(&a.local_locator)
            })
            .map(|(k, _)| *k)
            .collect();
        let mut n = 0;
        for key in keys {
            let Some(a) = self.assocs.get_mut(&key) else { continue };
            let listed = same_family(a.local_locator, addresses);
            let gained = listed.iter().any(|l| !a.update.announced.contains(l));
            if listed.len() < 2 || !gained {
                // Keep the record to what we still have, so an address
                // that comes back is announced again.
                a.update.announced.retain(|l| listed.contains(l));
                continue;
            }
            let Some(spi) = a.session.as_ref().map(|s| s.inbound_spi) else { continue };
            let set = our_locator_set(spi, a.local_locator, &listed);
            a.update.announced = listed;
            let params = vec![set.into(), EspInfo { keymat_index: 0, old_spi: spi, new_spi: spi }.into()];
            match self.send_update(now, key, params, None, None) {
                Ok(()) => {
                    self.counters.mobility.locators_announced_ahead += 1;
                    n += 1;
                }
                Err(r) => self.counters.drop(r),
            }
        }
        n
    }

    /// The peer's inbound SA `spi` (on the association `local` - `peer`)
    /// has delivered `received` bytes in all: its credit for
    /// credit-based authorization (RFC 8046 §5.5.1). Ignored when CBA is
    /// off or the SA is not the association's current one.
    pub fn observe_received(&mut self, now: Instant, local: Hit, peer: Hit, spi: u32, received: u64) {
        let Some(cfg) = self.cfg.credit else { return };
        let Some(a) = self.assocs.get_mut(&(local, peer)) else { return };
        if a.session.as_ref().is_some_and(|s| s.inbound_spi == spi) {
            a.update.credit.observe(now, &cfg, spi, received);
        }
    }

    /// The alternative to [`HipHost::update_locators`] for hosts without
    /// mobility support, and the benchmark's reference: drop every
    /// association whose locator is gone (Closed events: its SAs go) and
    /// run a fresh base exchange from a remaining address; the peer
    /// answers the I1 from ESTABLISHED and replaces its state on our I2
    /// (RFC 7401 §4.4.2). Returns how many associations restarted.
    pub fn restart_moved(&mut self, now: Instant, addresses: &[IpAddr]) -> usize {
        let keys = self.stranded(addresses);
        keys.into_iter().filter(|&key| self.restart_one(now, key, addresses)).count()
    }

    /// [`HipHost::restart_moved`] for one association of
    /// [`HipHost::stranded`]: whether its new base exchange started.
    pub fn restart_one(&mut self, now: Instant, key: (Hit, Hit), addresses: &[IpAddr]) -> bool {
        let Some(a) = self.assocs.get(&key) else { return false };
        if addresses.contains(&a.local_locator) {
            return false;
        }
        let Some(&new) = addresses.iter().find(|x| x.is_ipv4() == a.peer_locator.is_ipv4()) else { return false };
        let (peer_locator, spi) = (a.peer_locator, a.session.as_ref().map_or(0, |s| s.inbound_spi));
        self.assocs.remove(&key);
        self.events.push_back(Event::Closed { local_hit: key.0, peer_hit: key.1, inbound_spi: spi });
        self.initiate(now, Some(key.0), key.1, vec![(new, peer_locator)]).is_ok()
    }

    /// Send a new UPDATE with SEQ (and ACK of `ack`) plus `params` on the
    /// association `key`, to `dst` or the peer's locator; retransmitted
    /// until ACKed (§6.11).
    pub(in crate::hip::assoc) fn send_update(
        &mut self,
        now: Instant,
        key: (Hit, Hit),
        mut params: Vec<Param>,
        ack: Option<u32>,
        dst: Option<IpAddr>,
    ) -> Result<(), DropReason> {
        let li = self.local_index(&key.0).ok_or(DropReason::Internal)?;
        let a = self.assocs.get_mut(&key).ok_or(DropReason::Internal)?;
        let s = a.session.as_ref().ok_or(DropReason::Internal)?;
        let update_id = a.update.take_id();
        params.push(Seq { update_id }.into());
        if let Some(id) = ack {
            params.push(Ack { peer_update_ids: vec![id] }.into());
        }
        let pkt = update_packet(key, params);
        let mac = MacSpec { kind: MacKind::Mac, suite: s.suite, key: &s.hip_keys.outbound.integrity };
        let bytes = seal(pkt, Some(mac), Some((&self.locals[li].id, SigKind::Sig)))?;
        let (src, dst) = (a.local_locator, dst.unwrap_or(a.peer_locator));
        let deadline = now + self.cfg.retransmit_initial;
        a.update.in_flight =
            Some(InFlight { update_id, bytes: bytes.clone(), src, dst, retransmits: 0, deadline, announce: false });
        if ack.is_some() {
            a.update.last_answer = Some((bytes.clone(), src, dst));
        }
        self.send_update_bytes(src, dst, bytes);
        Ok(())
    }

    fn send_update_bytes(&mut self, src: IpAddr, dst: IpAddr, bytes: Vec<u8>) {
        self.counters.mobility.updates_sent += 1;
        self.send(src, dst, bytes);
    }

    /// UPDATE (§6.12): authenticate, then ACK, echo response (the address
    /// check completes), SEQ (answer it), registration answers.
    pub(in crate::hip::assoc) fn on_update(
        &mut self,
        now: Instant,
        li: usize,
        pkt: &HipPacket,
        bytes: &[u8],
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(), DropReason> {
        self.counters.mobility.updates_received += 1;
        let key = (self.locals[li].id.hit, Hit::from(pkt.sender_hit));
        let a = self
            .assocs
            .get(&key)
            .filter(|a| matches!(a.state, State::Established | State::R2Sent))
            .ok_or(DropReason::UnexpectedPacket)?;
        let s = a.session.as_ref().ok_or(DropReason::UnexpectedPacket)?;
        verify_mac(bytes, pkt, MacKind::Mac, s.suite, &s.hip_keys.inbound.integrity)?;
        verify_signature(bytes, pkt, SigKind::Sig, &s.peer_public)?;
        // An echo that does not match our pending check changes nothing.
        let echo = pkt
            .get::<EchoResponseSigned>()
            .map(|e| &e.opaque)
            .or_else(|| pkt.get::<EchoResponseUnsigned>().map(|e| &e.opaque));
        if let Some(opaque) = echo
            && a.update.echo.as_ref().is_none_or(|c| &c.nonce != opaque)
            && a.close_nonce.as_ref() != Some(opaque)
        {
            return Err(DropReason::BadEcho);
        }
        let seq = pkt.get::<Seq>().map(|s| s.update_id);
        if let (Some(id), Some(last)) = (seq, a.update.last_peer_id) {
            if id == last {
                // Our answer was lost: the same again (§6.12.1).
                if let Some((b, from, to)) = a.update.last_answer.clone() {
                    self.send_update_bytes(from, to, b);
                }
                return Ok(());
            }
            if id < last {
                return Err(DropReason::UnexpectedPacket);
            }
        }

        let acked: &[u32] = pkt.get::<Ack>().map_or(&[][..], |a| a.peer_update_ids.as_slice());
        // A rekey is checked (new DH included) before anything changes.
        let rekey = self.plan_rekey(key, pkt, acked)?;
        let a = self.assocs.get_mut(&key).ok_or(DropReason::Internal)?;
        if a.state == State::R2Sent {
            // A valid UPDATE proves the Initiator has the keys.
            a.set_state(State::Established, now);
        }
        if a.update.in_flight.as_ref().is_some_and(|f| acked.contains(&f.update_id)) {
            a.update.in_flight = None;
        }
        // RFC 7402 §6.10: the ACK of our answer to the peer's rekey says it
        // has switched to the new SAs: now we do.
        if a.update.switch.as_ref().is_some_and(|p| p.answer_id.is_some_and(|id| acked.contains(&id))) {
            self.switch_outbound(key);
        }
        let a = self.assocs.get_mut(&key).ok_or(DropReason::Internal)?;
        if echo.is_some()
            && let Some(check) = a.update.echo.take()
        {
            self.counters.mobility.locators_verified += 1;
            if check.switch {
                // RFC 8046 §5.3.2: the new preferred locator answered; use it.
                a.peer_locator = check.locator;
                let ev = locator_changed(a);
                self.events.push_back(ev);
            } else {
                // Checked ahead: ACTIVE, ready for a set that prefers it.
                a.update.mark_verified(check.locator, check.valid_until);
            }
        }
        let rekey = self.commit_rekey(key, rekey);
        if let Some(id) = seq {
            self.answer_update(now, key, pkt, id, (src, dst), rekey)?;
        }
        // Our answer's SEQ: its ACK completes the peer's rekey here.
        if let Some(a) = self.assocs.get_mut(&key)
            && let Some(p) = a.update.switch.as_mut()
            && p.answer_id.is_none()
        {
            p.answer_id = a.update.in_flight.as_ref().map(|f| f.update_id);
        }
        self.registration_answer(now, key.1, pkt);
        Ok(())
    }

    /// Answer the peer's UPDATE `peer_id` (which came `src` -> `dst`): an
    /// address check to a new locator (UPDATE with SEQ, ACK,
    /// ECHO_REQUEST_SIGNED, retransmitted), else a plain ACK with any echo
    /// responses and registration answers.
    fn answer_update(
        &mut self,
        now: Instant,
        key: (Hit, Hit),
        pkt: &HipPacket,
        peer_id: u32,
        (src, dst): (IpAddr, IpAddr),
        rekey: Vec<Param>,
    ) -> Result<(), DropReason> {
        let li = self.local_index(&key.0).ok_or(DropReason::Internal)?;
        let reg = self.registrar_decide(now, key.1, pkt.get::<RegRequest>());
        let mut params: Vec<Param> = reg.params.clone();
        params
            .extend(pkt.get_all::<EchoRequestSigned>().map(|e| EchoResponseSigned { opaque: e.opaque.clone() }.into()));
        params.extend(
            pkt.get_all::<EchoRequestUnsigned>().map(|e| EchoResponseUnsigned { opaque: e.opaque.clone() }.into()),
        );
        let echoes = params.len() > reg.params.len();
        let mut nonce = vec![0u8; 16];
        (self.rng)(&mut nonce);
        let credit_cfg = self.cfg.credit;
        let a = self.assocs.get_mut(&key).ok_or(DropReason::Internal)?;
        a.update.last_peer_id = Some(peer_id);
        let set = pkt.get::<LocatorSet>().map(|l| listed(l, a.peer_locator));
        let plan = match &set {
            Some(set) => {
                // RFC 8046 §5.4: locators the set no longer lists are
                // DEPRECATED: none of them is used without a new check.
                a.update.verified.retain(|(l, _)| set.iter().any(|x| x.address == *l));
                let checking = a.update.echo.as_ref().map(|c| c.locator);
                let may_check_ahead = a.update.in_flight.is_none();
                plan(set, a.peer_locator, |l| a.update.is_verified(l, now), checking, may_check_ahead)
            }
            None => Plan::Ack,
        };
        let spi = a.session.as_ref().map_or(0, |s| s.inbound_spi);
        let check = match plan {
            Plan::Check { locator, switch } => Some((locator, switch)),
            Plan::SwitchNow(locator) => {
                // Checked ahead (make-before-break): data goes there now.
                a.update.verified.retain(|(l, _)| *l != locator);
                a.peer_locator = locator;
                let ev = locator_changed(a);
                self.events.push_back(ev);
                self.counters.mobility.switched_to_checked += 1;
                None
            }
            Plan::SwitchOnEcho(_) => {
                // The check under way tests it: its echo moves the data
                // (with credit, the datapath moves now, as for a new check).
                let grant = credit_cfg.map_or(0, |c| a.update.credit.take(now, &c));
                if let Some(c) = a.update.echo.as_mut() {
                    c.switch = true;
                    if grant > 0 {
                        c.credited = true;
                        let locator = c.locator;
                        self.events.push_back(credit_granted(a, locator, grant, &mut self.counters.mobility));
                    }
                }
                None
            }
            Plan::Ack => None,
        };
        if let Some((locator, switch)) = check {
            // Credit-based authorization (RFC 8046 §5.5): with credit, the
            // datapath moves now and may send that much to the preferred
            // locator under test; without, it waits for the echo (§5.3.2).
            // A credited check this one replaces must not keep its locator.
            let grant = if switch { credit_cfg.map_or(0, |c| a.update.credit.take(now, &c)) } else { 0 };
            let replaced = a.update.echo.as_ref().is_some_and(|c| c.credited);
            let valid_until = set.as_deref().map_or(now, |s| valid_until(now, s, locator));
            a.update.echo = Some(EchoCheck { nonce: nonce.clone(), locator, credited: grant > 0, switch, valid_until });
            if grant > 0 {
                self.events.push_back(credit_granted(a, locator, grant, &mut self.counters.mobility));
            } else if replaced {
                let ev = locator_changed(a);
                self.events.push_back(ev);
            }
            params.push(EchoRequestSigned { opaque: nonce }.into());
            if rekey.is_empty() {
                params.push(EspInfo { keymat_index: 0, old_spi: spi, new_spi: spi }.into());
            }
            params.extend(rekey);
            self.counters.mobility.address_checks += 1;
            self.send_update(now, key, params, Some(peer_id), Some(locator))?;
        } else if !rekey.is_empty() {
            // Our half of the rekey needs the peer's ACK: with SEQ.
            params.extend(rekey);
            self.send_update(now, key, params, Some(peer_id), Some(src))?;
        } else {
            params.push(Ack { peer_update_ids: vec![peer_id] }.into());
            let s = a.session.as_ref().ok_or(DropReason::Internal)?;
            let mac = MacSpec { kind: MacKind::Mac, suite: s.suite, key: &s.hip_keys.outbound.integrity };
            let bytes = seal(update_packet(key, params), Some(mac), Some((&self.locals[li].id, SigKind::Sig)))?;
            // An echo response leaves from the address the request was
            // sent to: a check ahead tests one we do not use yet.
            let from = if echoes { dst } else { a.local_locator };
            a.update.last_answer = Some((bytes.clone(), from, src));
            self.send_update_bytes(from, src, bytes);
        }
        self.registrar_commit(reg);
        Ok(())
    }

    /// Retransmit UPDATEs not ACKed in time; give up after
    /// `max_retransmits` (a pending address check then fails: the locator
    /// is not used).
    pub(in crate::hip::assoc) fn update_timeouts(&mut self, now: Instant) {
        let (max, initial) = (self.cfg.max_retransmits, self.cfg.retransmit_initial);
        let mut resend = Vec::new();
        let mut failed = 0;
        let mut via_rvs = Vec::new();
        let mut given_up = Vec::new();
        for (key, a) in self.assocs.iter_mut() {
            let Some(f) = a.update.in_flight.as_mut() else { continue };
            if f.deadline > now {
                continue;
            }
            // Double jump (RFC 8046 §3.2.3 leaves recovery to the RVS): our
            // announcement is unanswered, so the peer may have moved too;
            // if we reached it through a rendezvous server, start over
            // there: the RVS knows its current locator.
            if f.announce
                && f.retransmits >= ANNOUNCE_TRIES_BEFORE_RVS
                && let Some(&(_, rvs)) = a.paths.iter().find(|(_, p)| *p != a.peer_locator)
            {
                via_rvs.push((*key, a.local_locator, rvs));
                continue;
            }
            if f.retransmits >= max {
                given_up.push((*key, f.update_id));
                a.update.in_flight = None;
                if let Some(check) = a.update.echo.take() {
                    failed += 1;
                    // The locator never answered: if it had credit, the
                    // datapath goes back to the verified one (nothing
                    // more to the failed locator).
                    if check.credited {
                        self.events.push_back(locator_changed(a));
                    }
                }
                continue;
            }
            f.retransmits += 1;
            f.deadline = now + initial.saturating_mul(1u32 << f.retransmits.min(16));
            resend.push((f.src, f.dst, f.bytes.clone()));
        }
        self.counters.mobility.address_checks_failed += failed;
        for (key, update_id) in given_up {
            self.rekey_given_up(key, update_id);
        }
        for (key, local, rvs) in via_rvs {
            if local.is_ipv4() != rvs.is_ipv4() {
                continue;
            }
            let spi = self.assocs.remove(&key).and_then(|a| a.session.map(|s| s.inbound_spi)).unwrap_or(0);
            self.events.push_back(Event::Closed { local_hit: key.0, peer_hit: key.1, inbound_spi: spi });
            if self.initiate(now, Some(key.0), key.1, vec![(local, rvs)]).is_ok() {
                self.counters.mobility.rvs_recoveries += 1;
            }
        }
        for (src, dst, bytes) in resend {
            self.counters.mobility.update_retransmits += 1;
            self.send_update_bytes(src, dst, bytes);
        }
    }
}

fn update_packet(key: (Hit, Hit), params: Vec<Param>) -> HipPacket {
    HipPacket {
        next_header: NEXT_HEADER_NONE,
        packet_type: PacketType::Update,
        controls: 0,
        sender_hit: key.0.to_ipv6(),
        receiver_hit: key.1.to_ipv6(),
        params,
    }
}

/// The association's verified locators, for the datapath.
fn locator_changed(a: &Association) -> Event {
    locator_changed_to(a, a.peer_locator, None)
}

/// Credit-based authorization (RFC 8046 §5.5) hands `grant` bytes to
/// the unverified `locator`: counted, and the datapath's event.
fn credit_granted(a: &Association, locator: IpAddr, grant: u64, c: &mut MobilityCounters) -> Event {
    c.credit_grants += 1;
    c.credit_granted_bytes += grant;
    locator_changed_to(a, locator, Some(grant))
}

/// Data to `peer_locator`, within `credit` if it is not verified yet.
fn locator_changed_to(a: &Association, peer_locator: IpAddr, credit: Option<u64>) -> Event {
    let s = a.session.as_ref();
    Event::LocatorChanged {
        local_hit: a.local_hit,
        peer_hit: a.peer_hit,
        local_locator: a.local_locator,
        peer_locator,
        inbound_spi: s.map_or(0, |s| s.inbound_spi),
        outbound_spi: s.map_or(0, |s| s.outbound_spi),
        credit,
    }
}
