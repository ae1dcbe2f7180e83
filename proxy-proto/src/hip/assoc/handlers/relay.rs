//! The rendezvous service (RFC 8004 §3): the registrar relays an I1 for a
//! registered HIT to the client's current locator with FROM (the
//! Initiator's address) and RVS_HMAC (keyed with the registration
//! association's integrity key); the client checks RVS_HMAC and sends its
//! R1 straight to the Initiator with VIA_RVS; the Initiator accepts an R1
//! from that other address when VIA_RVS names where its I1 went.

use std::time::Instant;

use core::net::IpAddr;

use super::*;
use crate::hip::assoc::registration::{from_wire, to_wire};
use crate::hip::crypto::mac;
use crate::hip::wire::param::rvs::{RvsFrom, RvsHmac, ViaRvs};
use crate::hip::wire::{AuthParam, Packet, auth_input};

impl HipHost {
    /// Registrar: relay `pkt`, an I1 from `src` for a HIT that is not ours,
    /// to the registered client (RFC 8004 §3.2, §4.2.1, §4.2.2).
    pub(in crate::hip::assoc) fn relay_i1(
        &mut self,
        now: Instant,
        pkt: HipPacket,
        src: IpAddr,
    ) -> Result<(), DropReason> {
        let client = Hit::from(pkt.receiver_hit);
        if self.granted.get(&client).is_none_or(|g| g.expires <= now) {
            return Err(DropReason::NotRegistered);
        }
        let key = self.established_key(&client).ok_or(DropReason::NotRegistered)?;
        let a = self.assocs.get(&key).ok_or(DropReason::Internal)?;
        let s = a.session.as_ref().ok_or(DropReason::Internal)?;
        let mut relayed = pkt;
        relayed.params.push(RvsFrom { address: to_wire(src) }.into());
        relayed.params.push(RvsHmac { hmac: vec![0; s.suite.rhash_len()] }.into());
        let bytes = relayed.to_bytes().map_err(|_| DropReason::Malformed)?;
        let input = auth_input(&bytes, AuthParam::RvsHmac).map_err(|_| DropReason::Internal)?;
        let hmac = mac::compute(s.suite, &s.hip_keys.outbound.integrity, &input);
        for p in relayed.params.iter_mut() {
            if let Param::RvsHmac(h) = p {
                h.hmac = hmac.clone();
            }
        }
        let bytes = relayed.to_bytes().map_err(|_| DropReason::Internal)?;
        let (from, to) = (a.local_locator, a.peer_locator);
        self.counters.mobility.i1_relayed += 1;
        self.send(from, to, bytes);
        Ok(())
    }

    /// Responder: an I1 with FROM must carry an RVS_HMAC made with the key
    /// of a registrar we registered with (RFC 8004 §3.3). Returns where to
    /// send the R1 and the rendezvous server's address for VIA_RVS.
    pub(in crate::hip::assoc) fn check_relayed_i1(
        &self,
        li: usize,
        pkt: &HipPacket,
        bytes: &[u8],
        src: IpAddr,
    ) -> Result<(IpAddr, Option<IpAddr>), DropReason> {
        let Some(from) = pkt.get::<RvsFrom>() else { return Ok((src, None)) };
        let hmac = pkt.get::<RvsHmac>().ok_or(DropReason::MissingParameter)?;
        let input = auth_input(bytes, AuthParam::RvsHmac).map_err(|_| DropReason::Malformed)?;
        let local = self.locals[li].id.hit;
        let ok = self
            .assocs
            .values()
            .filter(|a| a.local_hit == local && self.held.contains_key(&a.peer_hit))
            .filter_map(|a| a.session.as_ref())
            .any(|s| mac::verify(s.suite, &s.hip_keys.inbound.integrity, &input, &hmac.hmac).is_ok());
        if !ok {
            return Err(DropReason::BadRvsHmac);
        }
        let from = from_wire(from.address);
        if from.is_ipv4() != src.is_ipv4() {
            // Our R1 would have to leave from an address of the other family.
            return Err(DropReason::Malformed);
        }
        Ok((from, Some(src)))
    }
}

/// Append VIA_RVS naming `rvs` to an emitted R1. Its type sorts after
/// HIP_SIGNATURE_2, so the signature is unaffected (RFC 8004 §4.2.3).
pub(super) fn append_via_rvs(mut r1: Vec<u8>, rvs: IpAddr) -> Result<Vec<u8>, DropReason> {
    let via = ViaRvs { addresses: vec![to_wire(rvs)] };
    let at = r1.len();
    r1.resize(at + via.buffer_len(), 0);
    via.emit(&mut ParamTlv::new_unchecked(&mut r1[at..]));
    let header_length = u8::try_from(r1.len() / 8 - 1).map_err(|_| DropReason::Internal)?;
    Packet::new_unchecked(&mut r1[..]).set_header_length(header_length);
    Ok(r1)
}

/// Initiator: an R1 from an address other than our I1's destination must
/// name that destination in VIA_RVS (RFC 8004 §3.2).
pub(super) fn check_via_rvs(r1: &HipPacket, i1_dst: IpAddr) -> Result<(), DropReason> {
    let via = r1.get::<ViaRvs>().ok_or(DropReason::UnexpectedPacket)?;
    if via.addresses.iter().any(|&a| from_wire(a) == i1_dst) { Ok(()) } else { Err(DropReason::UnexpectedPacket) }
}
