//! Diffie-Hellman of the base exchange (RFC 7401 Sections 5.2.6, 5.2.7, 4.1.3):
//! group IDs, group negotiation, ephemeral key pairs and the shared secret Kij.

use aws_lc_rs::agreement;
use zeroize::Zeroizing;

use super::CryptoError;
use super::modp::ModpGroup;

/// DH Group IDs of RFC 7401 Section 5.2.7 that this module implements.
///
/// ID 10 (SECP160R1) is defined but not offered: no well-kept library has it
/// and its 80-bit strength is below what an operator should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DhGroupId {
    /// 1536-bit MODP group (RFC 3526 Section 2).
    Modp1536 = 3,
    /// 3072-bit MODP group (RFC 3526 Section 4).
    Modp3072 = 4,
    /// NIST P-256 ECDH.
    NistP256 = 7,
    /// NIST P-384 ECDH.
    NistP384 = 8,
    /// NIST P-521 ECDH.
    NistP521 = 9,
    /// 2048-bit MODP group (RFC 3526 Section 3).
    Modp2048 = 11,
}

impl DhGroupId {
    /// The group with this wire ID.
    pub fn from_u8(id: u8) -> Result<Self, CryptoError> {
        match id {
            3 => Ok(DhGroupId::Modp1536),
            4 => Ok(DhGroupId::Modp3072),
            7 => Ok(DhGroupId::NistP256),
            8 => Ok(DhGroupId::NistP384),
            9 => Ok(DhGroupId::NistP521),
            11 => Ok(DhGroupId::Modp2048),
            other => Err(CryptoError::UnsupportedDhGroup(other)),
        }
    }

    /// The wire ID.
    pub fn id(self) -> u8 {
        self as u8
    }

    fn ecdh(self) -> Option<&'static agreement::Algorithm> {
        match self {
            DhGroupId::NistP256 => Some(&agreement::ECDH_P256),
            DhGroupId::NistP384 => Some(&agreement::ECDH_P384),
            DhGroupId::NistP521 => Some(&agreement::ECDH_P521),
            _ => None,
        }
    }

    fn modp(self) -> Option<ModpGroup> {
        match self {
            DhGroupId::Modp1536 => Some(ModpGroup::Modp1536),
            DhGroupId::Modp2048 => Some(ModpGroup::Modp2048),
            DhGroupId::Modp3072 => Some(ModpGroup::Modp3072),
            _ => None,
        }
    }

    /// Length of the Public Value field: the prime's length for MODP groups,
    /// X || Y (no 0x04 octet) for ECDH groups, as in the third-party capture.
    pub fn public_value_len(self) -> usize {
        match self {
            DhGroupId::Modp1536 => 192,
            DhGroupId::Modp2048 => 256,
            DhGroupId::Modp3072 => 384,
            DhGroupId::NistP256 => 64,
            DhGroupId::NistP384 => 96,
            DhGroupId::NistP521 => 132,
        }
    }
}

/// Our DH_GROUP_LIST, in order of preference (RFC 7401 Section 5.2.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhGroupPreference(pub Vec<DhGroupId>);

impl Default for DhGroupPreference {
    /// Strongest practical first; MODP last, for legacy peers.
    fn default() -> Self {
        DhGroupPreference(vec![
            DhGroupId::NistP384,
            DhGroupId::NistP256,
            DhGroupId::NistP521,
            DhGroupId::Modp3072,
            DhGroupId::Modp2048,
            DhGroupId::Modp1536,
        ])
    }
}

impl DhGroupPreference {
    /// Our list as DH_GROUP_LIST octets.
    pub fn to_list(&self) -> Vec<u8> {
        self.0.iter().map(|g| g.id()).collect()
    }

    /// As Responder: the group for R1's DIFFIE_HELLMAN, the first of our own
    /// list that also appears in the Initiator's I1 DH_GROUP_LIST
    /// (RFC 7401 Section 5.2.7).
    pub fn select_as_responder(&self, initiator_list: &[u8]) -> Result<DhGroupId, CryptoError> {
        self.0.iter().copied().find(|g| initiator_list.contains(&g.id())).ok_or(CryptoError::NoDhProposalChosen)
    }

    /// As Initiator receiving R1: the group the Responder should have chosen,
    /// the first of the R1 DH_GROUP_LIST that we support. If R1's DIFFIE_HELLMAN
    /// carries another group, the Responder chose a weaker group than both
    /// allow (a downgrade, RFC 7401 Section 4.1.3) and the caller restarts
    /// with an I1 carrying R1's list.
    pub fn expected_from_r1(&self, responder_list: &[u8]) -> Result<DhGroupId, CryptoError> {
        responder_list
            .iter()
            .filter_map(|&id| DhGroupId::from_u8(id).ok())
            .find(|g| self.0.contains(g))
            .ok_or(CryptoError::NoDhProposalChosen)
    }
}

enum Secret {
    Ecdh(agreement::PrivateKey),
    Modp(ModpGroup, Zeroizing<Vec<u8>>),
}

/// An ephemeral DH key pair for one base exchange.
pub struct DhKeyPair {
    group: DhGroupId,
    secret: Secret,
    public_value: Vec<u8>,
}

impl core::fmt::Debug for DhKeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DhKeyPair").field("group", &self.group).finish_non_exhaustive()
    }
}

/// How many random scalars to try before giving up: a fair RNG lands in
/// [1, n-1] with overwhelming probability on the first try.
const SCALAR_ATTEMPTS: usize = 64;

impl DhKeyPair {
    /// Generates a key pair, drawing the private value from `rng`.
    pub fn generate(group: DhGroupId, rng: &mut dyn FnMut(&mut [u8])) -> Result<Self, CryptoError> {
        if let Some(alg) = group.ecdh() {
            let scalar_len = (group.public_value_len() / 2).min(66);
            let mut scalar = Zeroizing::new(vec![0u8; scalar_len]);
            for _ in 0..SCALAR_ATTEMPTS {
                rng(&mut scalar);
                if group == DhGroupId::NistP521 {
                    // P-521 scalars are 521 bits: clear the 7 excess bits.
                    scalar[0] &= 0x01;
                }
                if let Ok(private) = agreement::PrivateKey::from_private_key(alg, &scalar) {
                    let public = private.compute_public_key().map_err(|_| CryptoError::KeyGeneration)?;
                    // aws-lc returns 0x04 || X || Y; the wire carries X || Y.
                    let public_value = public.as_ref().get(1..).ok_or(CryptoError::KeyGeneration)?.to_vec();
                    return Ok(DhKeyPair { group, secret: Secret::Ecdh(private), public_value });
                }
            }
            Err(CryptoError::KeyGeneration)
        } else if let Some(modp) = group.modp() {
            let mut exponent = Zeroizing::new(vec![0u8; modp.exponent_len()]);
            rng(&mut exponent);
            let public_value = modp.public_value(&exponent);
            Ok(DhKeyPair { group, secret: Secret::Modp(modp, exponent), public_value })
        } else {
            Err(CryptoError::UnsupportedDhGroup(group.id()))
        }
    }

    /// The group.
    pub fn group(&self) -> DhGroupId {
        self.group
    }

    /// Our Public Value for the DIFFIE_HELLMAN parameter.
    pub fn public_value(&self) -> &[u8] {
        &self.public_value
    }

    /// Computes Kij from the peer's Public Value, after checking it: on the
    /// curve for ECDH, 1 < y < p-1 for MODP. For ECDH Kij is the X coordinate
    /// of the shared point; for MODP it is g^xy mod p, left-padded to the
    /// prime's length.
    pub fn shared_secret(&self, peer_public_value: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if peer_public_value.len() != self.group.public_value_len() {
            return Err(CryptoError::InvalidDhPublicValue);
        }
        match &self.secret {
            Secret::Ecdh(private) => {
                let mut point = Vec::with_capacity(peer_public_value.len() + 1);
                point.push(0x04);
                point.extend_from_slice(peer_public_value);
                let alg = private.algorithm();
                agreement::agree(
                    private,
                    agreement::UnparsedPublicKey::new(alg, &point),
                    CryptoError::InvalidDhPublicValue,
                    |k| Ok(Zeroizing::new(k.to_vec())),
                )
            }
            Secret::Modp(modp, exponent) => modp.shared_secret(exponent, peer_public_value),
        }
    }
}
