//! Host Identity Tags as ORCHIDv2 (RFC 7343, RFC 7401 Section 3.2).
//!
//! ORCHID := Prefix (28 bits) | OGA ID (4 bits) | Encode_96(Hash(Context ID | Input))
//! with Prefix 2001:20::/28, the HIT Suite ID as OGA ID, RHASH of that suite
//! as Hash, the HIP Context ID, and the Host Identity field of HOST_ID
//! (Section 5.2.9, without the Algorithm field) as Input.

use core::net::Ipv6Addr;

use super::{CryptoError, HitSuite, HostIdPublic};

/// The ORCHIDv2 Context ID for HIP (RFC 7401 Section 3.2, generated per RFC 7343).
pub const HIT_CONTEXT_ID: [u8; 16] =
    [0xF0, 0xEF, 0xF0, 0x2F, 0xBF, 0xF4, 0x3D, 0x0F, 0xE7, 0x93, 0x0C, 0x3C, 0x6E, 0x61, 0x74, 0xEA];

/// The first 28 bits of every ORCHIDv2: 2001:20::/28 (RFC 7343 Section 6).
const ORCHID_PREFIX: [u8; 4] = [0x20, 0x01, 0x00, 0x20];

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
        let hash = suite.rhash(&[&HIT_CONTEXT_ID, host_identity]);
        let hash = hash.as_ref();
        // Encode_96 takes the middle 96 bits of the hash (RFC 7343 Section 2);
        // RHASH outputs are whole octets of even length, so the middle is octet aligned.
        let start = (hash.len() - 12) / 2;
        let mut hit = [0u8; 16];
        hit[..4].copy_from_slice(&ORCHID_PREFIX);
        hit[3] |= suite.id() & 0x0f;
        hit[4..].copy_from_slice(&hash[start..start + 12]);
        Hit(hit)
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
