//! Building authenticated packets and checking received ones: HIP_MAC,
//! HIP_MAC_2, HIP_SIGNATURE and HIP_SIGNATURE_2 cover the packet up to
//! themselves (§5.2.12 - §5.2.15), so they are filled in that order on
//! the emitted bytes.

use super::DropReason;
use super::local::LocalIdentity;
use crate::hip::crypto::{HitSuite, HostIdPublic, mac};
use crate::hip::wire::param::auth::{HipMac, HipMac2, HipSignature, HipSignature2};
use crate::hip::wire::param::host_id::HostId;
use crate::hip::wire::{AuthParam, HipPacket, Param, auth_input};

/// Which MAC a packet carries.
pub(super) enum MacKind<'a> {
    /// HIP_MAC (I2, CLOSE, CLOSE_ACK).
    Mac,
    /// HIP_MAC_2, computed with the sender's HOST_ID (R2, §5.2.13).
    Mac2(&'a HostId),
}

/// A MAC to add: kind, HMAC suite and our outbound integrity key.
pub(super) struct MacSpec<'a> {
    pub kind: MacKind<'a>,
    pub suite: HitSuite,
    pub key: &'a [u8],
}

/// Which signature a packet carries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum SigKind {
    /// HIP_SIGNATURE.
    Sig,
    /// HIP_SIGNATURE_2 (R1 only).
    Sig2,
}

fn auth_param<'a>(kind: &MacKind<'a>) -> AuthParam<'a> {
    match kind {
        MacKind::Mac => AuthParam::HipMac,
        MacKind::Mac2(h) => AuthParam::HipMac2 { sender_host_id: h },
    }
}

/// Emit `pkt` with its MAC and signature computed (checksum left zero).
pub(super) fn seal(
    mut pkt: HipPacket,
    mac_spec: Option<MacSpec<'_>>,
    signer: Option<(&LocalIdentity, SigKind)>,
) -> Result<Vec<u8>, DropReason> {
    if let Some(m) = &mac_spec {
        let placeholder = vec![0u8; m.suite.rhash_len()];
        pkt.params.push(match m.kind {
            MacKind::Mac => Param::HipMac(HipMac { hmac: placeholder }),
            MacKind::Mac2(_) => Param::HipMac2(HipMac2 { hmac: placeholder }),
        });
    }
    if let Some((local, kind)) = signer {
        let algorithm = local.host_id.algorithm;
        pkt.params.push(match kind {
            SigKind::Sig => Param::HipSignature(HipSignature { algorithm, signature: Vec::new() }),
            SigKind::Sig2 => Param::HipSignature2(HipSignature2 { algorithm, signature: Vec::new() }),
        });
    }
    let mut bytes = pkt.to_bytes().map_err(|_| DropReason::Internal)?;
    if let Some(m) = &mac_spec {
        let input = auth_input(&bytes, auth_param(&m.kind)).map_err(|_| DropReason::Internal)?;
        let hmac = mac::compute(m.suite, m.key, &input);
        for p in pkt.params.iter_mut() {
            match p {
                Param::HipMac(x) => x.hmac = hmac.clone(),
                Param::HipMac2(x) => x.hmac = hmac.clone(),
                _ => {}
            }
        }
        bytes = pkt.to_bytes().map_err(|_| DropReason::Internal)?;
    }
    if let Some((local, kind)) = signer {
        let which = if kind == SigKind::Sig { AuthParam::HipSignature } else { AuthParam::HipSignature2 };
        let input = auth_input(&bytes, which).map_err(|_| DropReason::Internal)?;
        let sig = local.identity.sign(&input).map_err(|_| DropReason::Internal)?;
        for p in pkt.params.iter_mut() {
            match p {
                Param::HipSignature(x) if kind == SigKind::Sig => x.signature = sig.clone(),
                Param::HipSignature2(x) if kind == SigKind::Sig2 => x.signature = sig.clone(),
                _ => {}
            }
        }
        bytes = pkt.to_bytes().map_err(|_| DropReason::Internal)?;
    }
    Ok(bytes)
}

/// Check the HIP_MAC or HIP_MAC_2 of received `bytes` with the peer's
/// outbound (our inbound) integrity key.
pub(super) fn verify_mac(
    bytes: &[u8],
    pkt: &HipPacket,
    kind: MacKind<'_>,
    suite: HitSuite,
    key: &[u8],
) -> Result<(), DropReason> {
    let received = match kind {
        MacKind::Mac => pkt.get::<HipMac>().map(|m| &m.hmac),
        MacKind::Mac2(_) => pkt.get::<HipMac2>().map(|m| &m.hmac),
    }
    .ok_or(DropReason::MissingParameter)?;
    let input = auth_input(bytes, auth_param(&kind)).map_err(|_| DropReason::Malformed)?;
    mac::verify(suite, key, &input, received).map_err(|_| DropReason::BadHipMac)
}

/// Check the HIP_SIGNATURE or HIP_SIGNATURE_2 of received `bytes`.
pub(super) fn verify_signature(
    bytes: &[u8],
    pkt: &HipPacket,
    kind: SigKind,
    public: &HostIdPublic,
) -> Result<(), DropReason> {
    let sig = match kind {
        SigKind::Sig => pkt.get::<HipSignature>().map(|s| &s.signature),
        SigKind::Sig2 => pkt.get::<HipSignature2>().map(|s| &s.signature),
    }
    .ok_or(DropReason::MissingParameter)?;
    let which = if kind == SigKind::Sig { AuthParam::HipSignature } else { AuthParam::HipSignature2 };
    let input = auth_input(bytes, which).map_err(|_| DropReason::Malformed)?;
    public.verify(&input, sig).map_err(|_| DropReason::BadSignature)
}
