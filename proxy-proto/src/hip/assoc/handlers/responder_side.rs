//! The Responder's side of the base exchange: I1 (§6.7) and I2 (§6.9).

use std::time::Instant;

use core::net::IpAddr;

use super::relay::append_via_rvs;
use super::*;
use crate::hip::wire::param::registration::RegRequest;

impl HipHost {
    /// I1 (§6.7): answer with a pre-computed R1, keep no state. In I1-SENT
    /// (both sides initiating) only the host with the greater HIT answers
    /// (§6.7, §4.4.2), so exactly one exchange completes.
    pub(in crate::hip::assoc) fn on_i1(
        &mut self,
        now: Instant,
        li: usize,
        pkt: &HipPacket,
        src: IpAddr,
        dst: IpAddr,
        via: Option<IpAddr>,
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
        // RFC 8004 §3.3: the R1 to a relayed I1 names the rendezvous
        // server in VIA_RVS (after the signature, which does not cover it).
        let r1 = match via {
            Some(rvs) => {
                self.counters.mobility.relayed_i1_answered += 1;
                append_via_rvs(r1, rvs)?
            }
            None => r1,
        };
        // r1_for filled the checksum; `send` recomputes it.
        self.send(dst, src, r1);
        Ok(())
    }

    /// I2 (§6.9): the puzzle against the R1 generation, then DH, KEYMAT,
    /// the HOST_ID, HIP_MAC and signature; only then is state created
    /// (R2-SENT) and R2 sent.
    pub(in crate::hip::assoc) fn on_i2(
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
        let (dh_group, keymat_salt) = (ok.dh.group(), [&ok.i[..], &ok.j[..]].concat());
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
        let (keymat_index, esp) = draw_esp_keys(&mut keymat, transform, &local_hit, &peer)?;
        let inbound_spi = self.random_spi();
        let reg_answer = self.registrar_decide(now, peer, pkt.get::<RegRequest>());

        // §5.3.4, RFC 7402 §5.3.3: R2 = ESP_INFO, HIP_MAC_2, HIP_SIGNATURE.
        let local = &self.locals[li].id;
        let r2 = HipPacket {
            next_header: NEXT_HEADER_NONE,
            packet_type: PacketType::R2,
            controls: 0,
            sender_hit: local_hit.to_ipv6(),
            receiver_hit: peer.to_ipv6(),
            params: {
                let mut p: Vec<Param> = vec![EspInfo { keymat_index, old_spi: 0, new_spi: inbound_spi }.into()];
                // RFC 8003 §3.3: REG_RESPONSE / REG_FAILED answer the I2's REG_REQUEST.
                p.extend(reg_answer.params.iter().cloned());
                p
            },
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
            keymat,
            dh_group,
            keymat_salt,
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
            && matches!(old.state, State::Established | State::R2Sent | State::Closing)
        {
            // The peer started over (§4.4.2 ESTABLISHED: I2 -> R2-SENT):
            // the old SAs go.
            self.events.push_back(Event::Closed { local_hit, peer_hit: peer, inbound_spi: s.inbound_spi });
        }
        self.counters.established += 1;
        self.events.push_back(event);
        self.registrar_commit(reg_answer);
        self.send(dst, src, r2);
        Ok(())
    }
}
