//! Host Identity Tags as ORCHIDv2 (RFC 7343, RFC 7401 Section 3.2).
//!
//! ORCHID := Prefix (28 bits) | OGA ID (4 bits) | Encode_96(Hash(Context ID | Input))
//! with Prefix 2001:20::/28, the HIT Suite ID as OGA ID, RHASH of that suite
//! as Hash, the HIP Context ID, and the Host Identity field of HOST_ID
//! (Section 5.2.9, without the Algorithm field) as Input.
//!
//! EdDSA/cSHAKE128 (suite 5) HITs follow RFC 9374 Section 3.5.2.1 for HIPv2:
//! the same prefix, OGA ID and Input, with the 96-bit output of cSHAKE128
//! taken whole (no Encode_96 middle extraction); the Context ID goes into
//! cSHAKE's customization string S, as RFC 9374 Section 3.5 specifies for
//! cSHAKE ORCHIDs. [`Hit::hhit`] builds the RFC 9374 Hierarchical HIT
//! (DRIP Entity Tag) of the same Host Identity.

use core::net::Ipv6Addr;

use super::{CryptoError, HitSuite, HostIdPublic};

/// The ORCHIDv2 Context ID for HIP (RFC 7401 Section 3.2, generated per RFC 7343).
pub const HIT_CONTEXT_ID: [u8; 16] =
    [0xF0, 0xEF, 0xF0, 0x2F, 0xBF, 0xF4, 0x3D, 0x0F, 0xE7, 0x93, 0x0C, 0x3C, 0x6E, 0x61, 0x74, 0xEA];

/// The first 28 bits of every ORCHIDv2: 2001:20::/28 (RFC 7343 Section 6).
const ORCHID_PREFIX: [u8; 4] = [0x20, 0x01, 0x00, 0x20];

/// The ORCHID Context ID of HHITs (RFC 9374 Section 3).
pub const HHIT_CONTEXT_ID: [u8; 16] =
    [0x00, 0xB5, 0xA6, 0x9C, 0x79, 0x5D, 0xF5, 0xD5, 0xF0, 0x08, 0x7F, 0x56, 0x84, 0x3F, 0x2C, 0x40];

/// The DET prefix 2001:30::/28 (RFC 9374 Section 3.1, Table 1), left-aligned in 32 bits.
const DET_PREFIX: u32 = 0x2001_0030;

/// A 128-bit Host Identity Tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hit(pub [u8; 16]);

impl Hit {
    /// Derives the HIT of a public Host Identity.
    pub fn from_host_id(host_id: &HostIdPublic) -> Result<Self, CryptoError> {
        Ok(Self::from_host_identity(host_id.hit_suite()?, &host_id.to_host_identity()))
    }

    /// Derives the HIT from the raw Host Identity field octets, as received.
    pub fn from_host_identity(suite: HitSuite, host_identity: &[u8]) -> Self {
        let mut hit = [0u8; 16];
        hit[..4].copy_from_slice(&ORCHID_PREFIX);
        hit[3] |= suite.id() & 0x0f;
        if suite == HitSuite::EddsaCshake128 {
            // RFC 9374 Section 3.5.2.1, variable output length: L = 96.
            super::keccak::cshake128(&[host_identity], &HIT_CONTEXT_ID, &mut hit[4..]);
            return Hit(hit);
        }
        let hash = suite.rhash(&[&HIT_CONTEXT_ID, host_identity]);
        let hash = hash.as_ref();
        // Encode_96 takes the middle 96 bits of the hash (RFC 7343 Section 2);
        // RHASH outputs are whole octets of even length, so the middle is octet aligned.
        let start = (hash.len() - 12) / 2;
        hit[4..].copy_from_slice(&hash[start..start + 12]);
        Hit(hit)
    }

    /// The Hierarchical HIT (DRIP Entity Tag) of an EdDSA Host Identity under
    /// `raa` and `hda` (14 bits each), RFC 9374 Sections 3 and 3.5.2:
    /// 2001:30::/28 | HID (RAA | HDA) | HHIT Suite ID (8 bits, 5) | 64-bit
    /// cSHAKE128(Prefix | HID | Suite ID | HI, 64, "", HHIT Context ID).
    pub fn hhit(host_id: &HostIdPublic, raa: u16, hda: u16) -> Result<Self, CryptoError> {
        let suite = host_id.hit_suite()?;
        if suite != HitSuite::EddsaCshake128 {
            return Err(CryptoError::UnsupportedHitSuite(suite.id()));
        }
        if raa >= 1 << 14 || hda >= 1 << 14 {
            return Err(CryptoError::InvalidHierarchyId);
        }
        let hid = (u32::from(raa) << 14) | u32::from(hda);
        // 28 + 28 + 8 bits: the header is the HHIT's first 8 octets.
        let header = (u64::from(DET_PREFIX >> 4) << 36) | (u64::from(hid) << 8) | u64::from(suite.id());
        let mut hhit = [0u8; 16];
        hhit[..8].copy_from_slice(&header.to_be_bytes());
        let (head, hash) = hhit.split_at_mut(8);
        super::keccak::cshake128(&[head, &host_id.to_host_identity()], &HHIT_CONTEXT_ID, hash);
        Ok(Hit(hhit))
    }

    /// True if the HIT lies in the ORCHIDv2 prefix 2001:20::/28.
    pub fn is_orchid(&self) -> bool {
        self.0[..3] == ORCHID_PREFIX[..3] && self.0[3] & 0xf0 == ORCHID_PREFIX[3]
    }

    /// The OGA ID (the HIT Suite ID) carried in bits 28..32.
    pub fn oga_id(&self) -> u8 {
        self.0[3] & 0x0f
    }

    /// True if this HIT was derived from `host_id` (RFC 7401 Section 6.7 and
    /// others: the HIT in the header must match the HOST_ID).
    pub fn matches(&self, host_id: &HostIdPublic) -> bool {
        Hit::from_host_id(host_id).is_ok_and(|h| h == *self)
    }

    /// The HIT as an IPv6 address.
    pub fn to_ipv6(self) -> Ipv6Addr {
        Ipv6Addr::from(self.0)
    }
}

impl From<Ipv6Addr> for Hit {
    fn from(addr: Ipv6Addr) -> Self {
        Hit(addr.octets())
    }
}
