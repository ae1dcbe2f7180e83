//! The byte strings HIP MACs and signatures are computed over (RFC 7401
//! §5.2.12 - §5.2.15, §6.4.1; RFC 8004 §4.2.1 for RVS_HMAC).
//!
//! Each is the packet up to, not including, the parameter in question
//! (so every parameter after it is left out too), with the Header Length
//! rewritten to describe just those octets and the Checksum zeroed.
//! HIP_MAC_2 adds the sender's HOST_ID in its type-order place;
//! HIP_SIGNATURE_2 in an R1 zeroes the Receiver's HIT and the PUZZLE's
//! Opaque and Random #I so a Responder can sign R1s before it knows the
//! Initiator.
//!
//! Checked against the third-party capture: with these inputs the
//! RSA (PSS, SHA-256) and ECDSA P-384 signatures of every I2, R1, R2,
//! UPDATE, CLOSE and CLOSE_ACK in it verify (see `tests/hip_capture.rs`).

use super::Error;
use super::header::{HEADER_LEN, MAX_PACKET_LEN, Packet, PacketType};
use super::param::ParamRepr;
use super::param::auth::{HipMac, HipMac2, HipSignature, HipSignature2};
use super::param::host_id::HostId;
use super::param::puzzle::Puzzle;
use super::param::rvs::RvsHmac;
use super::param::tlv::{ParamIter, ParamTlv, TLV_HEADER_LEN};

/// Which authentication parameter the input is for.
#[derive(Debug, Clone, Copy)]
pub enum AuthParam<'a> {
    /// HIP_MAC (§5.2.12).
    HipMac,
    /// HIP_MAC_2 (§5.2.13): needs the sender's HOST_ID, which the packet
    /// (an R2) does not carry; the Initiator has it from the R1.
    HipMac2 {
        /// The HOST_ID of the packet's sender.
        sender_host_id: &'a HostId,
    },
    /// HIP_SIGNATURE (§5.2.14).
    HipSignature,
    /// HIP_SIGNATURE_2 (§5.2.15).
    HipSignature2,
    /// RVS_HMAC (RFC 8004 §4.2.1).
    RvsHmac,
}

impl AuthParam<'_> {
    /// The parameter type the input ends before.
    pub fn param_type(&self) -> u16 {
        match self {
            AuthParam::HipMac => HipMac::TYPE,
            AuthParam::HipMac2 { .. } => HipMac2::TYPE,
            AuthParam::HipSignature => HipSignature::TYPE,
            AuthParam::HipSignature2 => HipSignature2::TYPE,
            AuthParam::RvsHmac => RvsHmac::TYPE,
        }
    }
}

/// The exact octets the MAC or signature in `which` covers, for the HIP
/// packet `packet` (the IP payload). Fails if the packet is malformed up
/// to that parameter or does not contain it.
pub fn auth_input(packet: &[u8], which: AuthParam<'_>) -> Result<Vec<u8>, Error> {
    let view = Packet::new_checked(packet)?;
    let target = which.param_type();
    // Offsets below are from the start of the packet.
    let mut cut = None;
    let mut host_id_at = None;
    let mut puzzles = Vec::new();
    for raw in ParamIter::new(view.parameters()) {
        let raw = raw?;
        let ty = raw.tlv.param_type();
        let at = HEADER_LEN + raw.offset;
        if ty == target {
            cut = Some(at);
            break;
        }
        if host_id_at.is_none() && ty > HostId::TYPE {
            host_id_at = Some(at);
        }
        if ty == Puzzle::TYPE {
            puzzles.push((at, raw.tlv.contents().len()));
        }
    }
    let cut = cut.ok_or(Error::ParamNotFound { ty: target })?;
    let bytes = view.as_bytes();

    let mut out = match which {
        AuthParam::HipMac2 { sender_host_id } => {
            // §6.4.1: the HOST_ID goes where ascending type order puts it.
            let at = host_id_at.unwrap_or(cut);
            let mut tlv = vec![0u8; sender_host_id.buffer_len()];
            sender_host_id.emit(&mut ParamTlv::new_unchecked(&mut tlv[..]));
            let mut out = Vec::with_capacity(cut + tlv.len());
            out.extend_from_slice(&bytes[..at]);
            out.extend_from_slice(&tlv);
            out.extend_from_slice(&bytes[at..cut]);
            out
        }
        _ => bytes[..cut].to_vec(),
    };
    if out.len() > MAX_PACKET_LEN {
        return Err(Error::PacketTooLong { len: out.len() });
    }

    let mut p = Packet::new_unchecked(&mut out[..]);
    // out.len() is a multiple of 8 in 40..=2048.
    p.set_header_length(
        u8::try_from(out_len_units(p.raw_len()))
            .map_err(|_| Error::PacketTooLong { len: p.raw_len() })?,
    );
    p.set_checksum(0);
    if matches!(which, AuthParam::HipSignature2) && p.packet_type() == PacketType::R1 {
        // §5.2.15. Only in R1: HIP_SIGNATURE_2 belongs to R1, and the
        // capture's R2 (which misuses HIP_SIGNATURE_2) verifies unzeroed.
        p.set_receiver_hit(core::net::Ipv6Addr::UNSPECIFIED);
        for (at, len) in puzzles {
            let start = at + TLV_HEADER_LEN + Puzzle::OPAQUE_OFFSET;
            let end = at + TLV_HEADER_LEN + len;
            if let Some(z) = out.get_mut(start..end) {
                z.fill(0);
            }
        }
    }
    Ok(out)
}

/// Header Length for a packet of `len` octets.
fn out_len_units(len: usize) -> usize {
    len / 8 - 1
}
