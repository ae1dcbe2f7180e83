//! HIT Suites (RFC 7401 Section 5.2.10): the hash that is RHASH, and its HMAC.

use aws_lc_rs::{digest, hmac};

use super::CryptoError;

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
}

impl HitSuite {
    /// The suite with this 4-bit ID, as found in a HIT's OGA ID or a HIT_SUITE_LIST.
    pub fn from_id(id: u8) -> Result<Self, CryptoError> {
        match id {
            1 => Ok(HitSuite::RsaDsaSha256),
            2 => Ok(HitSuite::EcdsaSha384),
            3 => Ok(HitSuite::EcdsaLowSha1),
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

    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            HitSuite::RsaDsaSha256 => &digest::SHA256,
            HitSuite::EcdsaSha384 => &digest::SHA384,
            HitSuite::EcdsaLowSha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        }
    }

    pub(crate) fn hmac_algorithm(self) -> hmac::Algorithm {
        match self {
            HitSuite::RsaDsaSha256 => hmac::HMAC_SHA256,
            HitSuite::EcdsaSha384 => hmac::HMAC_SHA384,
            HitSuite::EcdsaLowSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        }
    }

    /// RHASH_len / 8: the output length of RHASH in octets, which is also the
    /// length of the puzzle's #I and #J and of a HIP_MAC.
    pub fn rhash_len(self) -> usize {
        self.digest_algorithm().output_len()
    }

    /// RHASH over the concatenation of `parts`.
    pub fn rhash(self, parts: &[&[u8]]) -> digest::Digest {
        let mut ctx = digest::Context::new(self.digest_algorithm());
        for part in parts {
            ctx.update(part);
        }
        ctx.finish()
    }
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
        assert_eq!(HitSuite::from_id(4), Err(CryptoError::UnsupportedHitSuite(4)));
        assert_eq!(HitSuite::from_id(0), Err(CryptoError::UnsupportedHitSuite(0)));
    }

    #[test]
    fn rhash_lengths_and_known_answer() {
        assert_eq!(HitSuite::RsaDsaSha256.rhash_len(), 32);
        assert_eq!(HitSuite::EcdsaSha384.rhash_len(), 48);
        assert_eq!(HitSuite::EcdsaLowSha1.rhash_len(), 20);
        // FIPS 180-2 "abc" vector, split over two parts.
        let d = HitSuite::RsaDsaSha256.rhash(&[b"a", b"bc"]);
        assert_eq!(hex::encode(d.as_ref()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
