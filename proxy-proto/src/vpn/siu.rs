//! The Security Information Update (SIU): home agent to gateway, telling
//! the gateway to move its outbound SA for a mobile node to the new care-of
//! address, and carrying the Registration Reply it must forward afterwards.
//! Layout, processing rules and security considerations: `SIU.md`.
//!
//! It is a Mobile IP message on UDP port 434 with the experimental message
//! Type 255 (RFC 4064 §3), followed by our Subtype octet.

use core::net::Ipv4Addr;

use super::ipv4::{addr, be16};

/// Mobile IP experimental message type (RFC 4064).
pub const TYPE_EXPERIMENTAL: u8 = 255;
/// Our Subtype of the SIU.
pub const SUBTYPE_SIU: u8 = 1;
/// The only version defined.
pub const VERSION: u8 = 1;
/// Length of the truncated HMAC-SHA-256 (RFC 4868 style HMAC-SHA-256-128).
pub const ICV_LEN: usize = 16;

/// Flag N: the HA has no previous binding through this gateway, so the Old
/// Care-of Address is 0.0.0.0 and must not be compared.
pub const FLAG_NO_OLD_COA: u8 = 0x80;

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const SUBTYPE: usize = 1;
    pub const VERSION: usize = 2;
    pub const FLAGS: usize = 3;
    pub const KEY_ID: Range<usize> = 4..8;
    pub const SEQUENCE: Range<usize> = 8..16;
    pub const HOME_ADDRESS: Range<usize> = 16..20;
    pub const OLD_COA: Range<usize> = 20..24;
    pub const NEW_COA: Range<usize> = 24..28;
    pub const LIFETIME: Range<usize> = 28..30;
    pub const REPLY_LEN: Range<usize> = 30..32;
    pub const REPLY: usize = 32;
}

/// Length of the fixed header before the Reply Datagram.
pub const HEADER_LEN: usize = field::REPLY;

/// Errors of the SIU layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SiuError {
    #[error("SIU truncated or Reply Length inconsistent")]
    Truncated,
    #[error("not an SIU (type {0}, subtype {1})")]
    NotSiu(u8, u8),
    #[error("unsupported SIU version {0}")]
    Version(u8),
    #[error("unknown key id {0:#x}")]
    UnknownKeyId(u32),
    #[error("ICV mismatch")]
    BadIcv,
    #[error("Reply Datagram longer than 65535 bytes")]
    TooLong,
}

/// The key an HA and a GW share for SIUs, named by its key id.
#[derive(Clone)]
pub struct SiuKey {
    pub key_id: u32,
    key: aws_lc_rs::hmac::Key,
}

impl core::fmt::Debug for SiuKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SiuKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl SiuKey {
    /// A key; SIU.md asks for at least 32 random bytes.
    pub fn new(key_id: u32, secret: &[u8]) -> Self {
        Self { key_id, key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret) }
    }
    fn icv(&self, data: &[u8]) -> [u8; ICV_LEN] {
        let tag = aws_lc_rs::hmac::sign(&self.key, data);
        let mut out = [0u8; ICV_LEN];
        out.copy_from_slice(&tag.as_ref()[..ICV_LEN]);
        out
    }
}

/// A read-only view of an SIU.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks type, subtype, version and that Reply Length and the ICV fit.
    pub fn new_checked(buffer: T) -> Result<Self, SiuError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN + ICV_LEN {
            return Err(SiuError::Truncated);
        }
        if b[field::TYPE] != TYPE_EXPERIMENTAL || b[field::SUBTYPE] != SUBTYPE_SIU {
            return Err(SiuError::NotSiu(b[field::TYPE], b[field::SUBTYPE]));
        }
        if b[field::VERSION] != VERSION {
            return Err(SiuError::Version(b[field::VERSION]));
        }
        let reply_len = usize::from(be16(&b[field::REPLY_LEN]));
        if b.len() != HEADER_LEN + reply_len + ICV_LEN {
            return Err(SiuError::Truncated);
        }
        Ok(Self { buffer })
    }
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    pub fn key_id(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::KEY_ID];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
    pub fn sequence(&self) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.buffer.as_ref()[field::SEQUENCE]);
        u64::from_be_bytes(a)
    }
    pub fn home_address(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::HOME_ADDRESS])
    }
    pub fn old_care_of_address(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::OLD_COA])
    }
    pub fn new_care_of_address(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::NEW_COA])
    }
    pub fn lifetime(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LIFETIME])
    }
    fn reply_end(&self) -> usize {
        HEADER_LEN + usize::from(be16(&self.buffer.as_ref()[field::REPLY_LEN]))
    }
    pub fn reply_datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.reply_end()]
    }
    pub fn icv(&self) -> &[u8] {
        &self.buffer.as_ref()[self.reply_end()..]
    }
    /// Verifies the ICV in constant time under `key` (whose id must be the
    /// message's key id).
    pub fn verify(&self, key: &SiuKey) -> Result<(), SiuError> {
        if key.key_id != self.key_id() {
            return Err(SiuError::UnknownKeyId(self.key_id()));
        }
        let expect = key.icv(&self.buffer.as_ref()[..self.reply_end()]);
        aws_lc_rs::constant_time::verify_slices_are_equal(&expect, self.icv()).map_err(|_| SiuError::BadIcv)
    }
}

/// An owned SIU. The key id is the signing key's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiuRepr {
    pub flags: u8,
    /// Strictly increasing per key (HA-GW pair), window-free.
    pub sequence: u64,
    /// The MN's home address: names the SA bundle at the gateway.
    pub home_address: Ipv4Addr,
    pub old_care_of_address: Ipv4Addr,
    pub new_care_of_address: Ipv4Addr,
    /// Granted registration lifetime, seconds.
    pub lifetime: u16,
    /// The complete IPv4/UDP datagram carrying the Registration Reply.
    pub reply_datagram: Vec<u8>,
}

impl SiuRepr {
    /// Parses an SIU after verifying it; `key_for` maps a key id to a key.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>, key_for: impl FnOnce(u32) -> Option<SiuKey>) -> Result<Self, SiuError> {
        let key = key_for(p.key_id()).ok_or(SiuError::UnknownKeyId(p.key_id()))?;
        p.verify(&key)?;
        Ok(Self {
            flags: p.flags(),
            sequence: p.sequence(),
            home_address: p.home_address(),
            old_care_of_address: p.old_care_of_address(),
            new_care_of_address: p.new_care_of_address(),
            lifetime: p.lifetime(),
            reply_datagram: p.reply_datagram().to_vec(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.reply_datagram.len() + ICV_LEN
    }

    /// Emits and signs the SIU.
    pub fn to_bytes(&self, key: &SiuKey) -> Result<Vec<u8>, SiuError> {
        let reply_len = u16::try_from(self.reply_datagram.len()).map_err(|_| SiuError::TooLong)?;
        let mut b = vec![0u8; self.buffer_len()];
        b[field::TYPE] = TYPE_EXPERIMENTAL;
        b[field::SUBTYPE] = SUBTYPE_SIU;
        b[field::VERSION] = VERSION;
        b[field::FLAGS] = self.flags;
        b[field::KEY_ID].copy_from_slice(&key.key_id.to_be_bytes());
        b[field::SEQUENCE].copy_from_slice(&self.sequence.to_be_bytes());
        b[field::HOME_ADDRESS].copy_from_slice(&self.home_address.octets());
        b[field::OLD_COA].copy_from_slice(&self.old_care_of_address.octets());
        b[field::NEW_COA].copy_from_slice(&self.new_care_of_address.octets());
        b[field::LIFETIME].copy_from_slice(&self.lifetime.to_be_bytes());
        b[field::REPLY_LEN].copy_from_slice(&reply_len.to_be_bytes());
        let end = HEADER_LEN + self.reply_datagram.len();
        b[HEADER_LEN..end].copy_from_slice(&self.reply_datagram);
        let icv = key.icv(&b[..end]);
        b[end..].copy_from_slice(&icv);
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SiuRepr {
        SiuRepr {
            flags: 0,
            sequence: 0x0102_0304_0506_0708,
            home_address: Ipv4Addr::new(10, 1, 0, 5),
            old_care_of_address: Ipv4Addr::new(192, 0, 2, 10),
            new_care_of_address: Ipv4Addr::new(198, 51, 100, 23),
            lifetime: 600,
            reply_datagram: vec![0xaa, 0xbb, 0xcc],
        }
    }

    #[test]
    fn emit_layout_and_round_trip() {
        let key = SiuKey::new(0x0000_0007, &[0x11; 32]);
        let b = sample().to_bytes(&key).unwrap();
        assert_eq!(
            hex::encode(&b[..35]),
            "ff010100000000070102030405060708\
             0a010005c000020ac6336417025800\
             03aabbcc"
        );
        // ICV: first 16 bytes of HMAC-SHA-256 over everything before it.
        let full =
            aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[0x11; 32]), &b[..35]);
        assert_eq!(&b[35..], &full.as_ref()[..16]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(SiuRepr::parse(&p, |id| (id == 7).then(|| key.clone())).unwrap(), sample());
    }

    #[test]
    fn forged_and_malformed_rejected() {
        let key = SiuKey::new(7, &[0x11; 32]);
        let b = sample().to_bytes(&key).unwrap();
        for i in [3usize, 10, 26, 33, 40] {
            let mut t = b.clone();
            t[i] ^= 0x01;
            let p = Packet::new_checked(&t[..]).unwrap();
            assert_eq!(SiuRepr::parse(&p, |_| Some(key.clone())).unwrap_err(), SiuError::BadIcv, "byte {i}");
        }
        let wrong = SiuKey::new(7, &[0x22; 32]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(SiuRepr::parse(&p, |_| Some(wrong.clone())).unwrap_err(), SiuError::BadIcv);
        assert_eq!(SiuRepr::parse(&p, |_| None).unwrap_err(), SiuError::UnknownKeyId(7));
        assert_eq!(Packet::new_checked(&b[..b.len() - 1]).unwrap_err(), SiuError::Truncated);
        assert_eq!(Packet::new_checked(&b[..20]).unwrap_err(), SiuError::Truncated);
        let mut t = b.clone();
        t[1] = 2;
        assert_eq!(Packet::new_checked(&t[..]).unwrap_err(), SiuError::NotSiu(255, 2));
        let mut t = b.clone();
        t[2] = 9;
        assert_eq!(Packet::new_checked(&t[..]).unwrap_err(), SiuError::Version(9));
        let mut t = b.clone();
        t[31] = 200; // Reply Length beyond the message
        assert_eq!(Packet::new_checked(&t[..]).unwrap_err(), SiuError::Truncated);
    }
}
