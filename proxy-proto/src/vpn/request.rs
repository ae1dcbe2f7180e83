//! Registration Request (RFC 5944 §3.3), UDP destination port 434.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |     Type=1    |S|B|D|M|G|r|T|x|            Lifetime           |
//! |                          Home Address                         |
//! |                           Home Agent                          |
//! |                        Care-of Address                        |
//! +                         Identification                        +
//! |                                                               |
//! | Extensions ...
//! ```

use core::net::Ipv4Addr;

use super::auth::{self, AuthError, MnHaKey};
use super::extension::{self, Extension, MipError};
use super::identification::Identification;
use super::ipv4::{addr, be16};

/// Mobile IP Type of the Registration Request.
pub const TYPE_REGISTRATION_REQUEST: u8 = 1;
/// The Mobile IP UDP port (RFC 5944 §3.1).
pub const MIP_PORT: u16 = 434;

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const FLAGS: usize = 1;
    pub const LIFETIME: Range<usize> = 2..4;
    pub const HOME_ADDRESS: Range<usize> = 4..8;
    pub const HOME_AGENT: Range<usize> = 8..12;
    pub const CARE_OF_ADDRESS: Range<usize> = 12..16;
    pub const IDENTIFICATION: Range<usize> = 16..24;
    pub const EXTENSIONS: usize = 24;
}

/// Length of the fixed part.
pub const FIXED_LEN: usize = field::EXTENSIONS;

/// The flags octet of a Registration Request (RFC 5944 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestFlags(pub u8);

impl RequestFlags {
    /// S: simultaneous bindings.
    pub const S: u8 = 0x80;
    /// B: broadcast datagrams.
    pub const B: u8 = 0x40;
    /// D: decapsulation by the mobile node (co-located care-of address).
    pub const D: u8 = 0x20;
    /// M: minimal encapsulation.
    pub const M: u8 = 0x10;
    /// G: GRE encapsulation.
    pub const G: u8 = 0x08;
    /// r: sent as zero, ignored on reception.
    pub const R_RESERVED: u8 = 0x04;
    /// T: reverse tunnelling requested (RFC 3024).
    pub const T: u8 = 0x02;
    /// x: sent as zero, ignored on reception.
    pub const X_RESERVED: u8 = 0x01;

    pub const fn contains(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    /// The flags with the r and x bits cleared (§3.3: sent as zero,
    /// ignored on reception).
    pub const fn normalized(self) -> Self {
        Self(self.0 & !(Self::R_RESERVED | Self::X_RESERVED))
    }
}

/// A read/write view of a Registration Request.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }
    /// Checks the fixed part is present and the Type is 1.
    pub fn new_checked(buffer: T) -> Result<Self, MipError> {
        let b = buffer.as_ref();
        if b.len() < FIXED_LEN {
            return Err(MipError::Truncated);
        }
        if b[field::TYPE] != TYPE_REGISTRATION_REQUEST {
            return Err(MipError::WrongType(b[field::TYPE]));
        }
        Ok(Self { buffer })
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn flags(&self) -> RequestFlags {
        RequestFlags(self.buffer.as_ref()[field::FLAGS])
    }
    pub fn lifetime(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LIFETIME])
    }
    pub fn home_address(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::HOME_ADDRESS])
    }
    pub fn home_agent(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::HOME_AGENT])
    }
    pub fn care_of_address(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::CARE_OF_ADDRESS])
    }
    pub fn identification(&self) -> Identification {
        let b = &self.buffer.as_ref()[field::IDENTIFICATION];
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Identification(u64::from_be_bytes(a))
    }
    pub fn extensions(&self) -> extension::ExtensionIter<'_> {
        extension::ExtensionIter::new(self.buffer.as_ref(), FIXED_LEN)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_type(&mut self) {
        self.buffer.as_mut()[field::TYPE] = TYPE_REGISTRATION_REQUEST;
    }
    pub fn set_flags(&mut self, f: RequestFlags) {
        self.buffer.as_mut()[field::FLAGS] = f.0;
    }
    pub fn set_lifetime(&mut self, v: u16) {
        self.buffer.as_mut()[field::LIFETIME].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_home_address(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::HOME_ADDRESS].copy_from_slice(&a.octets());
    }
    pub fn set_home_agent(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::HOME_AGENT].copy_from_slice(&a.octets());
    }
    pub fn set_care_of_address(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::CARE_OF_ADDRESS].copy_from_slice(&a.octets());
    }
    pub fn set_identification(&mut self, id: Identification) {
        self.buffer.as_mut()[field::IDENTIFICATION].copy_from_slice(&id.0.to_be_bytes());
    }
    pub fn extensions_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::EXTENSIONS..]
    }
}

/// An owned Registration Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRequestRepr {
    pub flags: RequestFlags,
    /// Seconds; 0 deregisters, 0xffff is infinity (§3.3).
    pub lifetime: u16,
    pub home_address: Ipv4Addr,
    pub home_agent: Ipv4Addr,
    pub care_of_address: Ipv4Addr,
    pub identification: Identification,
    pub extensions: Vec<Extension>,
}

impl RegistrationRequestRepr {
    /// Parses a request; an unknown extension of type 0-127 yields
    /// [`MipError::UnknownNonSkippable`] (silently discard, §3.5).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, MipError> {
        Ok(Self {
            flags: p.flags().normalized(),
            lifetime: p.lifetime(),
            home_address: p.home_address(),
            home_agent: p.home_agent(),
            care_of_address: p.care_of_address(),
            identification: p.identification(),
            extensions: extension::parse_all(p.buffer.as_ref(), FIXED_LEN)?,
        })
    }

    pub fn buffer_len(&self) -> usize {
        FIXED_LEN + self.extensions.iter().map(Extension::buffer_len).sum::<usize>()
    }

    /// Writes the request; r and x are sent as zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<(), MipError> {
        if p.buffer.as_ref().len() < self.buffer_len() {
            return Err(MipError::Truncated);
        }
        p.set_type();
        p.set_flags(self.flags.normalized());
        p.set_lifetime(self.lifetime);
        p.set_home_address(self.home_address);
        p.set_home_agent(self.home_agent);
        p.set_care_of_address(self.care_of_address);
        p.set_identification(self.identification);
        extension::emit_all(&self.extensions, p.extensions_mut())
    }

    /// Emits the request with a trailing MN-HA Authentication Extension
    /// (replacing any present) signed with `key` (§3.5.2: it MUST be in
    /// every request). Returns the UDP payload.
    pub fn to_signed_bytes(&self, key: &MnHaKey) -> Result<Vec<u8>, AuthError> {
        let mut repr = self.clone();
        repr.extensions.retain(|e| !matches!(e, Extension::MnHaAuth { .. }));
        repr.extensions
            .push(Extension::MnHaAuth { spi: key.spi(), authenticator: vec![0; key.algorithm().authenticator_len()] });
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]))?;
        auth::sign(&mut buf, FIXED_LEN, key)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vpn::auth::AuthAlgorithm;

    fn sample() -> RegistrationRequestRepr {
        RegistrationRequestRepr {
            flags: RequestFlags(RequestFlags::D | RequestFlags::T),
            lifetime: 1800,
            home_address: Ipv4Addr::new(10, 1, 0, 5),
            home_agent: Ipv4Addr::new(10, 1, 0, 1),
            care_of_address: Ipv4Addr::new(198, 51, 100, 23),
            identification: Identification(0xe8a1_0203_0405_0607),
            extensions: vec![Extension::Other { ext_type: 200, data: vec![7] }],
        }
    }

    #[test]
    fn emit_bytes_and_round_trip() {
        let r = sample();
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(
            hex::encode(&buf),
            "01220708\
             0a010005\
             0a010001\
             c6336417\
             e8a1020304050607\
             c80107"
        );
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(RegistrationRequestRepr::parse(&p).unwrap(), r);
    }

    #[test]
    fn reserved_bits_ignored_and_cleared() {
        let mut r = sample();
        r.flags = RequestFlags(0xff);
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(buf[1], 0xfa);
        buf[1] = 0xff;
        let back = RegistrationRequestRepr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(back.flags, RequestFlags(0xfa));
    }

    #[test]
    fn malformed_requests_rejected() {
        assert_eq!(Packet::new_checked(&[1u8; 23][..]).unwrap_err(), MipError::Truncated);
        let mut b = [0u8; 24];
        b[0] = 3;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), MipError::WrongType(3));
        let mut b = [0u8; 26];
        b[0] = 1;
        b[24] = 64; // unknown non-skippable extension
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(RegistrationRequestRepr::parse(&p).unwrap_err(), MipError::UnknownNonSkippable(64));
        b[24] = 200;
        b[25] = 1; // claims one data byte that is missing
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(RegistrationRequestRepr::parse(&p).unwrap_err(), MipError::ExtensionTruncated);
    }

    /// An RFC 5944 style request: MN-HA extension last, HMAC-MD5 over the
    /// fixed part, prior extensions and the extension's Type/Length/SPI.
    #[test]
    fn signed_request_verifies_and_tamper_fails() {
        let key = MnHaKey::new(0x0000_1001, AuthAlgorithm::HmacMd5, b"mn-ha shared secret").unwrap();
        let bytes = sample().to_signed_bytes(&key).unwrap();
        assert_eq!(bytes.len(), 24 + 3 + 2 + 4 + 16);
        assert_eq!(&bytes[27..33], &[32, 20, 0, 0, 0x10, 0x01]);
        let expect = auth::authenticator(AuthAlgorithm::HmacMd5, b"mn-ha shared secret", &bytes[..33]);
        assert_eq!(&bytes[33..], &expect[..]);
        auth::verify(&bytes, FIXED_LEN, &key).unwrap();
        let mut t = bytes.clone();
        t[15] ^= 1; // care-of address changed by an attacker
        assert_eq!(auth::verify(&t, FIXED_LEN, &key).unwrap_err(), AuthError::Mismatch);
        let other = MnHaKey::new(0x0000_1001, AuthAlgorithm::HmacMd5, b"wrong").unwrap();
        assert_eq!(auth::verify(&bytes, FIXED_LEN, &other).unwrap_err(), AuthError::Mismatch);
        let sha = MnHaKey::new(0x8000_0001, AuthAlgorithm::HmacSha256, b"k").unwrap();
        let sb = sample().to_signed_bytes(&sha).unwrap();
        assert_eq!(sb.len(), 24 + 3 + 2 + 4 + 32);
        auth::verify(&sb, FIXED_LEN, &sha).unwrap();
    }
}
