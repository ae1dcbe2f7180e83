//! The packet handlers of [`HipHost`]: what each state does with each
//! packet (RFC 7401 §4.4.2, processing rules §6.6 - §6.15).

use std::time::Instant;

use core::net::IpAddr;

use zeroize::Zeroizing;

use super::DropReason;
use super::association::{Association, Session, State};
use super::event::{Established, Event, FailReason};
use super::host::HipHost;
use super::seal::{MacKind, MacSpec, SigKind, seal, verify_mac, verify_signature};
use crate::esp::Transform;
use crate::hip::crypto::{DhKeyPair, EspKeyPair, HipCipher, HipKeys, Hit, HitSuite, HostIdPublic, Keymat, puzzle};
use crate::hip::wire::param::dh::{DhGroupList, DiffieHellman};
use crate::hip::wire::param::echo::{EchoRequestSigned, EchoRequestUnsigned, EchoResponseSigned, EchoResponseUnsigned};
use crate::hip::wire::param::encrypted::Encrypted;
use crate::hip::wire::param::esp::{EspInfo, EspTransform};
use crate::hip::wire::param::host_id::HostId;
use crate::hip::wire::param::notification::{Notification, NotifyMessageType};
use crate::hip::wire::param::puzzle::{Puzzle, R1Counter, Solution};
use crate::hip::wire::param::suites::{HipCipher as HipCipherList, TransportFormatList};
use crate::hip::wire::param::tlv::ParamTlv;
use crate::hip::wire::param::{Param, ParamRepr};
use crate::hip::wire::{HipPacket, NEXT_HEADER_NONE, PacketType};

/// SPIs 1..=255 are reserved (RFC 4303 §2.1), 0 means none.
const MIN_SPI: u32 = 256;

/// Bound on the Initiator's puzzle search: 2^(K + 4) tries covers all but
/// a 1e-7 tail of the geometric distribution.
fn max_attempts(k: u8) -> u64 {
    1u64 << (u32::from(k) + 4).min(62)
}

/// The peer's public key from HOST_ID, checked against its HIT (§6.8 step 4,
/// §6.9 step 9): the HIT is hashed from the received octets.
fn peer_identity(host_id: &HostId, sender: &Hit) -> Result<HostIdPublic, DropReason> {
    let public = HostIdPublic::from_host_identity(host_id.algorithm, &host_id.host_identity)
        .map_err(|_| DropReason::InvalidHit)?;
    let suite = public.hit_suite().map_err(|_| DropReason::InvalidHit)?;
    if Hit::from_host_identity(suite, &host_id.host_identity) != *sender {
        return Err(DropReason::InvalidHit);
    }
    Ok(public)
}

/// One direction's ESP KEYMAT as `EspCipher::new` takes it: encryption
/// key, then integrity key.
fn esp_key(enc: &[u8], auth: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut k = Zeroizing::new(Vec::with_capacity(enc.len() + auth.len()));
    k.extend_from_slice(enc);
    k.extend_from_slice(auth);
    k
}

impl HipHost {
    fn random_spi(&mut self) -> u32 {
        loop {
            let mut b = [0u8; 4];
            (self.rng)(&mut b);
            let spi = u32::from_be_bytes(b);
            let used = self.assocs.values().any(|a| a.session.as_ref().is_some_and(|s| s.inbound_spi == spi));
            if spi >= MIN_SPI && !used {
                return spi;
            }
        }
    }

    /// I1 (§6.7): answer with a pre-computed R1, keep no state. In I1-SENT
    /// (both sides initiating) only the host with the greater HIT answers
    /// (§6.7, §4.4.2), so exactly one exchange completes.
    pub(super) fn on_i1(
        &mut self,
        now: Instant,
        li: usize,
        pkt: &HipPacket,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(), DropReason> {
        if !self.cfg.responder {
            return Err(DropReason::NotResponder);
        }
        let local_hit = self.locals[li].id.hit;
        let peer = Hit::from(pkt.sender_hit);
        if let Some(a) = self.assocs.get(&(local_hit, peer))
            && a.state == State::I1Sent
            && local_hit < peer
        {
            // The peer, with the greater HIT, answers our I1 instead.
            return Ok(());
        }
        let list = pkt.get::<DhGroupList>().ok_or(DropReason::MissingParameter)?;
        let Ok(group) = self.cfg.dh_groups.select_as_responder(&list.groups) else {
            self.notify_type(now, li, peer, dst, src, NotifyMessageType::NoDhProposalChosen);
            return Err(DropReason::NoCommonProposal);
        };
        let local = &mut self.locals[li];
        let (r1, rotated) = local.pool.r1_for(now, &self.cfg, &local.id, group, &peer, dst, src, &mut self.rng)?;
        if rotated {
            self.counters.r1_generations += 1;
        }
        // r1_for filled the checksum; `send` recomputes it identically.
        self.send(dst, src, r1);
        Ok(())
    }

    /// R1 (§6.8) in I1-SENT: check the signature, solve the puzzle, derive
    /// the keys, send I2, go to I2-SENT.
    pub(super) fn on_r1(
        &mut self,
        now: Instant,
        li: usize,
        pkt: &HipPacket,
        bytes: &[u8],
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(), DropReason> {
        let local_hit = self.locals[li].id.hit;
        let peer = Hit::from(pkt.sender_hit);
        let key = (local_hit, peer);
        if self.assocs.get(&key).is_none_or(|a| a.state != State::I1Sent) {
            return Err(DropReason::UnexpectedPacket);
        }
        let host_id = pkt.get::<HostId>().ok_or(DropReason::MissingParameter)?;
        let peer_public = peer_identity(host_id, &peer)?;
        verify_signature(bytes, pkt, SigKind::Sig2, &peer_public)?;
        // The puzzle, KEYMAT and HIP_MAC use the Responder's RHASH.
        let suite = HitSuite::from_id(peer.oga_id()).map_err(|_| DropReason::InvalidHit)?;

        // §6.8 step 5: the DH group must be the first of R1's list that we
        // support, else the Responder downgraded us.
        let r1_list = pkt.get::<DhGroupList>().ok_or(DropReason::MissingParameter)?;
        let dh_param = pkt.get::<DiffieHellman>().ok_or(DropReason::MissingParameter)?;
        let expected = self.cfg.dh_groups.expected_from_r1(&r1_list.groups);
        if expected.map(|g| g.id()) != Ok(dh_param.group_id) {
            self.fail(now, key, FailReason::NoCommonProposal);
            self.notify_type(now, li, peer, dst, src, NotifyMessageType::InvalidDhChosen);
            return Err(DropReason::NoCommonProposal);
        }
        let group = expected.map_err(|_| DropReason::NoCommonProposal)?;

        let cipher = pkt
            .get::<HipCipherList>()
            .and_then(|l| self.cfg.hip_ciphers.iter().copied().find(|c| l.ciphers.contains(&c.id())));
        let transform = pkt.get::<EspTransform>().and_then(|l| {
            l.suites.iter().filter_map(|&id| Transform::from_suite_id(id)).find(|t| self.cfg.esp_transforms.contains(t))
        });
        let (Some(cipher), Some(transform)) = (cipher, transform) else {
            let t = if cipher.is_none() {
                NotifyMessageType::NoHipProposalChosen
            } else {
                NotifyMessageType::NoEspProposalChosen
            };
            self.fail(now, key, FailReason::NoCommonProposal);
            self.notify_type(now, li, peer, dst, src, t);
            return Err(DropReason::NoCommonProposal);
        };

        let puzzle_p = pkt.get::<Puzzle>().ok_or(DropReason::MissingParameter)?;
        if puzzle_p.k > self.cfg.max_puzzle_k {
            self.fail(now, key, FailReason::PuzzleTooHard);
            return Err(DropReason::PuzzleTooHard);
        }
        let mut start_j = vec![0u8; puzzle_p.random_i.len()];
        (self.rng)(&mut start_j);
        let solution =
            puzzle::solve(suite, &puzzle_p.random_i, &local_hit, &peer, puzzle_p.k, &start_j, max_attempts(puzzle_p.k))
                .map_err(|_| DropReason::PuzzleTooHard)?;

        let dh = DhKeyPair::generate(group, &mut self.rng).map_err(|_| DropReason::Internal)?;
        let kij = dh.shared_secret(&dh_param.public_value).map_err(|_| DropReason::Malformed)?;
        let mut keymat = Keymat::derive(suite, &kij, &local_hit, &peer, &puzzle_p.random_i, &solution.j)
            .map_err(|_| DropReason::Internal)?;
        let hip_keys =
            HipKeys::draw(&mut keymat, suite, cipher, &local_hit, &peer).map_err(|_| DropReason::Internal)?;
        let keymat_index = u16::try_from(keymat.index()).map_err(|_| DropReason::Internal)?;
        let esp = EspKeyPair::draw(
            &mut keymat,
            transform.encryption_key_len(),
            transform.integrity_key_len(),
            &local_hit,
            &peer,
        )
        .map_err(|_| DropReason::Internal)?;
        let inbound_spi = self.random_spi();

        // §5.3.3, RFC 7402 §5.3.2.
        let local = &self.locals[li].id;
        let host_id_param: Param = if cipher == HipCipher::NullEncrypt {
            local.host_id.clone().into()
        } else {
            let mut tlv = vec![0u8; local.host_id.buffer_len()];
            local.host_id.emit(&mut ParamTlv::new_unchecked(&mut tlv[..]));
            let data =
                cipher.encrypt(&hip_keys.outbound.encryption, &tlv, &mut self.rng).map_err(|_| DropReason::Internal)?;
            Encrypted { iv_and_data: data }.into()
        };
        let mut params: Vec<Param> = vec![
            EspInfo { keymat_index, old_spi: 0, new_spi: inbound_spi }.into(),
            Solution {
                k: puzzle_p.k,
                opaque: puzzle_p.opaque,
                random_i: puzzle_p.random_i.clone(),
                solution_j: solution.j.clone(),
            }
            .into(),
            DiffieHellman { group_id: group.id(), public_value: dh.public_value().to_vec() }.into(),
            HipCipherList { ciphers: vec![cipher.id()] }.into(),
            host_id_param,
            TransportFormatList { formats: vec![EspTransform::TYPE] }.into(),
            EspTransform { suites: transform.suite_id().into_iter().collect() }.into(),
        ];
        if let Some(c) = pkt.get::<R1Counter>() {
            params.push((*c).into());
        }
        // §5.2.20, §5.2.21: echo what the Responder asked us to.
        params
            .extend(pkt.get_all::<EchoRequestSigned>().map(|e| EchoResponseSigned { opaque: e.opaque.clone() }.into()));
        params.extend(
            pkt.get_all::<EchoRequestUnsigned>().map(|e| EchoResponseUnsigned { opaque: e.opaque.clone() }.into()),
        );
        let i2 = HipPacket {
            next_header: NEXT_HEADER_NONE,
            packet_type: PacketType::I2,
            controls: 0,
            sender_hit: local_hit.to_ipv6(),
            receiver_hit: peer.to_ipv6(),
            params,
        };
        let mac = MacSpec { kind: MacKind::Mac, suite, key: &hip_keys.outbound.integrity };
        let i2 = seal(i2, Some(mac), Some((local, SigKind::Sig)))?;

        let a = self.assocs.get_mut(&key).ok_or(DropReason::Internal)?;
        a.session = Some(Session {
            suite,
            hip_keys,
            peer_public,
            peer_host_id: host_id.clone(),
            transform,
            inbound_spi,
            outbound_spi: 0,
            inbound_key: esp_key(&esp.inbound.encryption, &esp.inbound.authentication),
            outbound_key: esp_key(&esp.outbound.encryption, &esp.outbound.authentication),
        });
        // Answer on the path the R1 came by.
        a.local_locator = dst;
        a.peer_locator = src;
        a.set_state(State::I2Sent, now);
        a.pending = Some(i2.clone());
        a.arm(now, self.cfg.retransmit_initial);
        self.send(dst, src, i2);
        Ok(())
    }

    /// I2 (§6.9): the puzzle against the R1 generation, then DH, KEYMAT,
    /// the HOST_ID, HIP_MAC and signature; only then is state created
    /// (R2-SENT) and R2 sent.
    pub(super) fn on_i2(
        &mut self,
        now: Instant,
        li: usize,
        pkt: &HipPacket,
        bytes: &[u8],
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(), DropReason> {
        let local_hit = self.locals[li].id.hit;
        let suite = self.locals[li].id.suite;
        let peer = Hit::from(pkt.sender_hit);
        let key = (local_hit, peer);
        let solution = pkt.get::<Solution>().ok_or(DropReason::MissingParameter)?;
        let solution_id = suite.rhash(&[&solution.random_i, &solution.solution_j]).as_ref().to_vec();
        if let Some(a) = self.assocs.get(&key) {
            // §4.4.2: in I2-SENT the I2 of the host with the lower HIT wins.
            if a.state == State::I2Sent && local_hit < peer {
                return Err(DropReason::UnexpectedPacket);
            }
            if a.solution_id.as_deref() == Some(&solution_id[..]) {
                // Our R2 was lost (R2-SENT: send it again) or this is a replay.
                if a.state == State::R2Sent
                    && let Some(r2) = a.r2.clone()
                {
                    self.send(dst, src, r2);
                }
                return Err(DropReason::ReplayedI2);
            }
        }
        let counter = pkt.get::<R1Counter>();
        let dh_param = pkt.get::<DiffieHellman>().ok_or(DropReason::MissingParameter)?;
        let local = &self.locals[li];
        let ok = local.pool.check_solution(&local.id, &peer, counter, solution, dh_param.group_id)?;
        let kij = ok.dh.shared_secret(&dh_param.public_value).map_err(|_| DropReason::Malformed)?;
        let mut keymat =
            Keymat::derive(suite, &kij, &local_hit, &peer, &ok.i, &ok.j).map_err(|_| DropReason::Internal)?;
        let solution_id = ok.solution_id;

        let Some(cipher) = pkt
            .get::<HipCipherList>()
            .and_then(|l| l.ciphers.first())
            .and_then(|&id| HipCipher::from_u16(id).ok())
            .filter(|c| self.cfg.hip_ciphers.contains(c))
        else {
            self.notify_type(now, li, peer, dst, src, NotifyMessageType::InvalidHipCipherChosen);
            return Err(DropReason::NoCommonProposal);
        };
        let hip_keys =
            HipKeys::draw(&mut keymat, suite, cipher, &local_hit, &peer).map_err(|_| DropReason::Internal)?;

        // §6.9 step 9: the Initiator's HOST_ID, encrypted unless NULL-ENCRYPT.
        let host_id = match (pkt.get::<Encrypted>(), pkt.get::<HostId>()) {
            (Some(enc), _) => {
                let plain = cipher
                    .decrypt(&hip_keys.inbound.encryption, &enc.iv_and_data)
                    .map_err(|_| DropReason::DecryptionFailed)?;
                let tlv = ParamTlv::new_checked(&plain[..]).map_err(|_| DropReason::DecryptionFailed)?;
                HostId::parse(&tlv).map_err(|_| DropReason::DecryptionFailed)?
            }
            (None, Some(h)) => h.clone(),
            (None, None) => return Err(DropReason::MissingParameter),
        };
        let peer_public = peer_identity(&host_id, &peer)?;
        if let Err(e) = verify_mac(bytes, pkt, MacKind::Mac, suite, &hip_keys.inbound.integrity) {
            if e == DropReason::BadHipMac {
                self.notify_type(now, li, peer, dst, src, NotifyMessageType::HipMacFailed);
            }
            return Err(e);
        }
        if let Err(e) = verify_signature(bytes, pkt, SigKind::Sig, &peer_public) {
            if e == DropReason::BadSignature {
                self.notify_type(now, li, peer, dst, src, NotifyMessageType::AuthenticationFailed);
            }
            return Err(e);
        }
        // RFC 7402 §5.3.2: exactly one suite, one we offered.
        let Some(transform) = pkt
            .get::<EspTransform>()
            .and_then(|t| t.suites.first())
            .and_then(|&id| Transform::from_suite_id(id))
            .filter(|t| self.cfg.esp_transforms.contains(t))
        else {
            self.notify_type(now, li, peer, dst, src, NotifyMessageType::InvalidEspTransformChosen);
            return Err(DropReason::NoCommonProposal);
        };
        let esp_info = pkt.get::<EspInfo>().ok_or(DropReason::MissingParameter)?;
        if esp_info.new_spi < MIN_SPI {
            return Err(DropReason::Malformed);
        }
        let keymat_index = u16::try_from(keymat.index()).map_err(|_| DropReason::Internal)?;
        let esp = EspKeyPair::draw(
            &mut keymat,
            transform.encryption_key_len(),
            transform.integrity_key_len(),
            &local_hit,
            &peer,
        )
        .map_err(|_| DropReason::Internal)?;
        let inbound_spi = self.random_spi();

        // §5.3.4, RFC 7402 §5.3.3: R2 = ESP_INFO, HIP_MAC_2, HIP_SIGNATURE.
        let local = &self.locals[li].id;
        let r2 = HipPacket {
            next_header: NEXT_HEADER_NONE,
            packet_type: PacketType::R2,
            controls: 0,
            sender_hit: local_hit.to_ipv6(),
            receiver_hit: peer.to_ipv6(),
            params: vec![EspInfo { keymat_index, old_spi: 0, new_spi: inbound_spi }.into()],
        };
        let mac = MacSpec { kind: MacKind::Mac2(&local.host_id), suite, key: &hip_keys.outbound.integrity };
        let r2 = seal(r2, Some(mac), Some((local, SigKind::Sig)))?;

        self.locals[li].pool.accept(counter, solution_id.clone());
        let session = Session {
            suite,
            hip_keys,
            peer_public,
            peer_host_id: host_id,
            transform,
            inbound_spi,
            outbound_spi: esp_info.new_spi,
            inbound_key: esp_key(&esp.inbound.encryption, &esp.inbound.authentication),
            outbound_key: esp_key(&esp.outbound.encryption, &esp.outbound.authentication),
        };
        let mut a = Association::new(local_hit, peer, vec![(dst, src)], now, State::R2Sent);
        a.initiator = false;
        a.deadline = Some(now + self.cfg.r2_sent_timeout);
        a.r2 = Some(r2.clone());
        a.solution_id = Some(solution_id);
        a.session = Some(session);
        let event = established(&a, false);
        if let Some(old) = self.assocs.insert(key, a)
            && let Some(s) = old.session
            && old.state != State::Closed
        {
            // The peer started over (§4.4.2 ESTABLISHED: I2 -> R2-SENT):
            // the old SAs go.
            self.events.push_back(Event::Closed { local_hit, peer_hit: peer, inbound_spi: s.inbound_spi });
        }
        self.counters.established += 1;
        self.events.push_back(event);
        self.send(dst, src, r2);
        Ok(())
    }

    /// R2 (§6.10) in I2-SENT: HIP_MAC_2, signature, the peer's SPI; then
    /// ESTABLISHED.
    pub(super) fn on_r2(&mut self, now: Instant, li: usize, pkt: &HipPacket, bytes: &[u8]) -> Result<(), DropReason> {
        let key = (self.locals[li].id.hit, Hit::from(pkt.sender_hit));
        let a = self.assocs.get_mut(&key).filter(|a| a.state == State::I2Sent).ok_or(DropReason::UnexpectedPacket)?;
        let s = a.session.as_mut().ok_or(DropReason::Internal)?;
        let esp_info = pkt.get::<EspInfo>().ok_or(DropReason::MissingParameter)?;
        verify_mac(bytes, pkt, MacKind::Mac2(&s.peer_host_id), s.suite, &s.hip_keys.inbound.integrity)?;
        verify_signature(bytes, pkt, SigKind::Sig, &s.peer_public)?;
        if esp_info.new_spi < MIN_SPI {
            return Err(DropReason::Malformed);
        }
        s.outbound_spi = esp_info.new_spi;
        a.set_state(State::Established, now);
        a.pending = None;
        let event = established(a, true);
        self.counters.established += 1;
        self.events.push_back(event);
        Ok(())
    }

    /// NOTIFY (§6.13): informational. Verified when we know the sender's
    /// key; never changes state (an unauthenticated NOTIFY must not tear
    /// down an exchange, §6.13).
    pub(super) fn on_notify(&mut self, li: usize, pkt: &HipPacket, bytes: &[u8]) -> Result<(), DropReason> {
        let peer = Hit::from(pkt.sender_hit);
        let key = (self.locals[li].id.hit, peer);
        if let Some(s) = self.assocs.get(&key).and_then(|a| a.session.as_ref()) {
            verify_signature(bytes, pkt, SigKind::Sig, &s.peer_public)?;
        }
        let n: &Notification = pkt.get::<Notification>().ok_or(DropReason::MissingParameter)?;
        self.events.push_back(Event::Notified { peer_hit: peer, message_type: n.message_type });
        Ok(())
    }

    /// CLOSE (§6.14): authenticate, answer CLOSE_ACK echoing the nonce,
    /// go to CLOSED. A retransmitted CLOSE in CLOSED gets the ACK again.
    pub(super) fn on_close(
        &mut self,
        now: Instant,
        li: usize,
        pkt: &HipPacket,
        bytes: &[u8],
    ) -> Result<(), DropReason> {
        let local_hit = self.locals[li].id.hit;
        let peer = Hit::from(pkt.sender_hit);
        let key = (local_hit, peer);
        let a = self
            .assocs
            .get(&key)
            .filter(|a| matches!(a.state, State::Established | State::R2Sent | State::Closing | State::Closed))
            .ok_or(DropReason::UnexpectedPacket)?;
        let s = a.session.as_ref().ok_or(DropReason::UnexpectedPacket)?;
        verify_mac(bytes, pkt, MacKind::Mac, s.suite, &s.hip_keys.inbound.integrity)?;
        verify_signature(bytes, pkt, SigKind::Sig, &s.peer_public)?;
        let echo = pkt.get::<EchoRequestSigned>().ok_or(DropReason::MissingParameter)?;
        let ack = HipPacket {
            next_header: NEXT_HEADER_NONE,
            packet_type: PacketType::CloseAck,
            controls: 0,
            sender_hit: local_hit.to_ipv6(),
            receiver_hit: peer.to_ipv6(),
            params: vec![EchoResponseSigned { opaque: echo.opaque.clone() }.into()],
        };
        let mac = MacSpec { kind: MacKind::Mac, suite: s.suite, key: &s.hip_keys.outbound.integrity };
        let ack = seal(ack, Some(mac), Some((&self.locals[li].id, SigKind::Sig)))?;
        let spi = s.inbound_spi;
        let (src, dst) = (a.local_locator, a.peer_locator);
        let was_closed = a.state == State::Closed;
        if !was_closed {
            let a = self.assocs.get_mut(&key).ok_or(DropReason::Internal)?;
            a.set_state(State::Closed, now);
            a.pending = None;
            a.deadline = Some(now + self.cfg.linger);
            self.events.push_back(Event::Closed { local_hit, peer_hit: peer, inbound_spi: spi });
        }
        self.send(src, dst, ack);
        Ok(())
    }

    /// CLOSE_ACK (§6.15) in CLOSING: authenticate, check the echoed nonce,
    /// go to CLOSED.
    pub(super) fn on_close_ack(
        &mut self,
        now: Instant,
        li: usize,
        pkt: &HipPacket,
        bytes: &[u8],
    ) -> Result<(), DropReason> {
        let key = (self.locals[li].id.hit, Hit::from(pkt.sender_hit));
        let a = self.assocs.get_mut(&key).filter(|a| a.state == State::Closing).ok_or(DropReason::UnexpectedPacket)?;
        let s = a.session.as_ref().ok_or(DropReason::Internal)?;
        verify_mac(bytes, pkt, MacKind::Mac, s.suite, &s.hip_keys.inbound.integrity)?;
        verify_signature(bytes, pkt, SigKind::Sig, &s.peer_public)?;
        let echo = pkt.get::<EchoResponseSigned>().ok_or(DropReason::MissingParameter)?;
        if a.close_nonce.as_deref() != Some(&echo.opaque[..]) {
            return Err(DropReason::BadEcho);
        }
        let spi = s.inbound_spi;
        a.set_state(State::Closed, now);
        a.pending = None;
        a.deadline = Some(now + self.cfg.linger);
        self.events.push_back(Event::Closed { local_hit: key.0, peer_hit: key.1, inbound_spi: spi });
        Ok(())
    }

    /// The exchange with `key` failed: E-FAILED, event, linger.
    pub(super) fn fail(&mut self, now: Instant, key: (Hit, Hit), reason: FailReason) {
        if let Some(a) = self.assocs.get_mut(&key) {
            a.set_state(State::EFailed, now);
            a.pending = None;
            a.deadline = Some(now + self.cfg.linger);
            self.counters.failed += 1;
            self.events.push_back(Event::Failed { local_hit: key.0, peer_hit: key.1, reason });
        }
    }
}

/// The ESTABLISHED event of an association with a session.
fn established(a: &Association, initiator: bool) -> Event {
    let s = a.session.as_ref().expect("established() is called with a session");
    Event::Established(Box::new(Established {
        local_hit: a.local_hit,
        peer_hit: a.peer_hit,
        local_locator: a.local_locator,
        peer_locator: a.peer_locator,
        initiator,
        transform: s.transform,
        inbound_spi: s.inbound_spi,
        outbound_spi: s.outbound_spi,
        inbound_key: s.inbound_key.clone(),
        outbound_key: s.outbound_key.clone(),
    }))
}
