//! The Initiator's side of the base exchange: R1 (§6.8) and R2 (§6.10).

use std::time::Instant;

use core::net::IpAddr;

use super::*;

impl HipHost {
    /// R1 (§6.8) in I1-SENT: check the signature, solve the puzzle, derive
    /// the keys, send I2, go to I2-SENT.
    pub(in crate::hip::assoc) fn on_r1(
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
        let Some(a) = self.assocs.get(&key).filter(|a| a.state == State::I1Sent) else {
            return Err(DropReason::UnexpectedPacket);
        };
        // RFC 8004 §3.2: an R1 may come from another address than our I1
        // went to, when a rendezvous server relayed the I1; VIA_RVS must
        // then name where we sent it.
        if src != a.peer_locator {
            super::relay::check_via_rvs(pkt, a.peer_locator)?;
            self.counters.mobility.r1_via_rvs += 1;
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
        let (keymat_index, esp) = draw_esp_keys(&mut keymat, transform, &local_hit, &peer)?;
        let inbound_spi = self.random_spi();

        // RFC 8003 §3.2: ask for the registrations we want from this peer.
        let reg_request = self.registration_request_in_i2(now, peer, pkt);
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
        params.extend(reg_request);
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
            keymat,
            dh_group: group,
            keymat_salt: [&puzzle_p.random_i[..], &solution.j[..]].concat(),
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

    /// R2 (§6.10) in I2-SENT: HIP_MAC_2, signature, the peer's SPI; then
    /// ESTABLISHED.
    pub(in crate::hip::assoc) fn on_r2(
        &mut self,
        now: Instant,
        li: usize,
        pkt: &HipPacket,
        bytes: &[u8],
    ) -> Result<(), DropReason> {
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
        self.registration_answer(now, key.1, pkt);
        Ok(())
    }
}
