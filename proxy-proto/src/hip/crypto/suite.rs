//! HIT Suites (RFC 7401 Section 5.2.10, RFC 9374 Section 3.4.2): the hash
//! that is RHASH, and its HMAC (KMAC128 for EdDSA/cSHAKE128).

use aws_lc_rs::{digest, hmac};

use super::{CryptoError, keccak};

/// A HIT Suite ID, also the OGA ID of an ORCHIDv2 HIT (RFC 7401 Sections 3.2, 5.2.10).
///
/// The suite fixes RHASH (puzzle, KEYMAT, ORCHID hash) and the HIP_MAC HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HitSuite {
    /// RSA,DSA/SHA-256 (ID 1): RHASH is SHA-256. Mandatory to implement.
    RsaDsaSha256 = 1,
    /// ECDSA/SHA-384 (ID 2): RHASH is SHA-384.
    EcdsaSha384 = 2,
    /// ECDSA_LOW/SHA-1 (ID 3): RHASH is SHA-1, for constrained devices.
    EcdsaLowSha1 = 3,
    /// EdDSA/cSHAKE128 (ID 5, RFC 9374 Section 3.4.2): RHASH is cSHAKE128
    /// with a 256-bit output, the HMAC is KMAC128 (RFC 9374 Table 7).
    EddsaCshake128 = 5,
}

/// An RHASH output: at most 48 octets (SHA-384), kept inline.
#[derive(Clone, Copy)]
pub struct Rhash {
    bytes: [u8; 48],
    len: usize,
}

impl AsRef<[u8]> for Rhash {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl core::fmt::Debug for Rhash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Rhash").field(&self.as_ref()).finish()
    }
}

impl HitSuite {
    /// The suite with this 4-bit ID, as found in a HIT's OGA ID or a HIT_SUITE_LIST.
    pub fn from_id(id: u8) -> Result<Self, CryptoError> {
        match id {
            1 => Ok(HitSuite::RsaDsaSha256),
            2 => Ok(HitSuite::EcdsaSha384),
            3 => Ok(HitSuite::EcdsaLowSha1),
            5 => Ok(HitSuite::EddsaCshake128),
            other => Err(CryptoError::UnsupportedHitSuite(other)),
        }
    }

    /// The 4-bit Suite ID.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The suite's byte in a HIT_SUITE_LIST: the ID sits in the high four bits
    /// (RFC 7401 Section 5.2.10).
    pub fn list_octet(self) -> u8 {
        self.id() << 4
    }

    /// Parses a HIT_SUITE_LIST octet, which carries the ID in its high four bits.
    pub fn from_list_octet(octet: u8) -> Result<Self, CryptoError> {
        Self::from_id(octet >> 4)
    }

    /// The SHA-2/SHA-1 digest of the suite; `None` for the Keccak suite.
    fn digest_algorithm(self) -> Option<&'static digest::Algorithm> {
        match self {
            HitSuite::RsaDsaSha256 => Some(&digest::SHA256),
            HitSuite::EcdsaSha384 => Some(&digest::SHA384),
            HitSuite::EcdsaLowSha1 => Some(&digest::SHA1_FOR_LEGACY_USE_ONLY),
            HitSuite::EddsaCshake128 => None,
        }
    }

    /// The HMAC of the suite; `None` for EdDSA/cSHAKE128, whose MAC is KMAC128.
    pub(crate) fn hmac_algorithm(self) -> Option<hmac::Algorithm> {
        match self {
            HitSuite::RsaDsaSha256 => Some(hmac::HMAC_SHA256),
            HitSuite::EcdsaSha384 => Some(hmac::HMAC_SHA384),
            HitSuite::EcdsaLowSha1 => Some(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
            HitSuite::EddsaCshake128 => None,
        }
    }

    /// RHASH_len / 8: the output length of RHASH in octets, which is also the
    /// length of the puzzle's #I and #J and of a HIP_MAC. cSHAKE128 is an XOF;
    /// this suite fixes its RHASH output at 256 bits, the security strength
    /// of cSHAKE128 for collisions being 128 bits (NIST SP 800-185).
    pub fn rhash_len(self) -> usize {
        match self.digest_algorithm() {
            Some(alg) => alg.output_len(),
            None => keccak::RHASH_LEN,
        }
    }

    /// RHASH over the concatenation of `parts`.
    pub fn rhash(self, parts: &[&[u8]]) -> Rhash {
        let mut out = Rhash { bytes: [0; 48], len: self.rhash_len() };
        match self.digest_algorithm() {
            Some(alg) => {
                let mut ctx = digest::Context::new(alg);
                for part in parts {
                    ctx.update(part);
                }
                out.bytes[..out.len].copy_from_slice(ctx.finish().as_ref());
            }
            None => keccak::cshake128(parts, b"", &mut out.bytes[..out.len]),
        }
        out
    }

    /// Every suite this implementation can derive, verify and key with, in
    /// the order a HIT_SUITE_LIST offers them after the local suite.
    pub const SUPPORTED: [HitSuite; 3] = [HitSuite::RsaDsaSha256, HitSuite::EcdsaSha384, HitSuite::EddsaCshake128];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_list_octets() {
        for (id, suite) in [(1, HitSuite::RsaDsaSha256), (2, HitSuite::EcdsaSha384), (3, HitSuite::EcdsaLowSha1)] {
            assert_eq!(HitSuite::from_id(id), Ok(suite));
            assert_eq!(suite.list_octet(), id << 4);
            assert_eq!(HitSuite::from_list_octet(id << 4), Ok(suite));
        }
        assert_eq!(HitSuite::from_id(5), Ok(HitSuite::EddsaCshake128));
        assert_eq!(HitSuite::EddsaCshake128.list_octet(), 0x50);
        assert_eq!(HitSuite::from_id(4), Err(CryptoError::UnsupportedHitSuite(4)));
        assert_eq!(HitSuite::from_id(0), Err(CryptoError::UnsupportedHitSuite(0)));
    }

    #[test]
    fn rhash_lengths_and_known_answer() {
        assert_eq!(HitSuite::RsaDsaSha256.rhash_len(), 32);
        assert_eq!(HitSuite::EcdsaSha384.rhash_len(), 48);
        assert_eq!(HitSuite::EcdsaLowSha1.rhash_len(), 20);
        assert_eq!(HitSuite::EddsaCshake128.rhash_len(), 32);
        // FIPS 180-2 "abc" vector, split over two parts.
        let d = HitSuite::RsaDsaSha256.rhash(&[b"a", b"bc"]);
        assert_eq!(hex::encode(d.as_ref()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        // cSHAKE128 with empty N and S is SHAKE128 (SP 800-185 Section 3.3):
        // the FIPS 202 SHAKE128("") vector, first 32 octets.
        let d = HitSuite::EddsaCshake128.rhash(&[]);
        assert_eq!(hex::encode(d.as_ref()), "7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26");
    }
}
