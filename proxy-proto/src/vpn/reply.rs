//! Registration Reply (RFC 5944 §3.4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |     Type=3    |     Code      |           Lifetime            |
//! |                          Home Address                         |
//! |                           Home Agent                          |
//! +                         Identification                        +
//! |                                                               |
//! | Extensions ...
//! ```

use core::net::Ipv4Addr;

use super::auth::{self, AuthError, MnHaKey};
use super::extension::{self, Extension, MipError};
use super::identification::Identification;
use super::ipv4::{addr, be16};

/// Mobile IP Type of the Registration Reply.
pub const TYPE_REGISTRATION_REPLY: u8 = 3;

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const LIFETIME: Range<usize> = 2..4;
    pub const HOME_ADDRESS: Range<usize> = 4..8;
    pub const HOME_AGENT: Range<usize> = 8..12;
    pub const IDENTIFICATION: Range<usize> = 12..20;
    pub const EXTENSIONS: usize = 20;
}

/// Length of the fixed part.
pub const FIXED_LEN: usize = field::EXTENSIONS;

/// Reply codes (RFC 5944 §3.4). Codes we do not name are kept as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyCode {
    /// 0: registration accepted.
    Accepted,
    /// 1: accepted, but simultaneous mobility bindings unsupported.
    AcceptedNoSimultaneousBindings,
    /// 128: denied by the HA, reason unspecified.
    HaUnspecified,
    /// 129: administratively prohibited.
    HaAdministrativelyProhibited,
    /// 130: insufficient resources.
    HaInsufficientResources,
    /// 131: mobile node failed authentication.
    HaMobileNodeFailedAuthentication,
    /// 132: foreign agent failed authentication.
    HaForeignAgentFailedAuthentication,
    /// 133: registration Identification mismatch.
    HaIdentificationMismatch,
    /// 134: poorly formed Request.
    HaPoorlyFormedRequest,
    /// 135: too many simultaneous mobility bindings.
    HaTooManyBindings,
    /// 136: unknown home agent address.
    HaUnknownHomeAgentAddress,
    /// Any other code (64-127 and 194 are foreign agent denials).
    Other(u8),
}

impl ReplyCode {
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Accepted => 0,
            Self::AcceptedNoSimultaneousBindings => 1,
            Self::HaUnspecified => 128,
            Self::HaAdministrativelyProhibited => 129,
            Self::HaInsufficientResources => 130,
            Self::HaMobileNodeFailedAuthentication => 131,
            Self::HaForeignAgentFailedAuthentication => 132,
            Self::HaIdentificationMismatch => 133,
            Self::HaPoorlyFormedRequest => 134,
            Self::HaTooManyBindings => 135,
            Self::HaUnknownHomeAgentAddress => 136,
            Self::Other(c) => c,
        }
    }
    pub const fn from_u8(c: u8) -> Self {
        match c {
            0 => Self::Accepted,
            1 => Self::AcceptedNoSimultaneousBindings,
            128 => Self::HaUnspecified,
            129 => Self::HaAdministrativelyProhibited,
            130 => Self::HaInsufficientResources,
            131 => Self::HaMobileNodeFailedAuthentication,
            132 => Self::HaForeignAgentFailedAuthentication,
            133 => Self::HaIdentificationMismatch,
            134 => Self::HaPoorlyFormedRequest,
            135 => Self::HaTooManyBindings,
            136 => Self::HaUnknownHomeAgentAddress,
            c => Self::Other(c),
        }
    }
    /// Codes 0 and 1 accept the registration (§3.4).
    pub const fn is_accepted(self) -> bool {
        self.to_u8() <= 1
    }
}

/// A read/write view of a Registration Reply.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }
    /// Checks the fixed part is present and the Type is 3.
    pub fn new_checked(buffer: T) -> Result<Self, MipError> {
        let b = buffer.as_ref();
        if b.len() < FIXED_LEN {
            return Err(MipError::Truncated);
        }
        if b[field::TYPE] != TYPE_REGISTRATION_REPLY {
            return Err(MipError::WrongType(b[field::TYPE]));
        }
        Ok(Self { buffer })
    }
    pub fn code(&self) -> ReplyCode {
        ReplyCode::from_u8(self.buffer.as_ref()[field::CODE])
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
    pub fn identification(&self) -> Identification {
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.buffer.as_ref()[field::IDENTIFICATION]);
        Identification(u64::from_be_bytes(a))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_type(&mut self) {
        self.buffer.as_mut()[field::TYPE] = TYPE_REGISTRATION_REPLY;
    }
    pub fn set_code(&mut self, c: ReplyCode) {
        self.buffer.as_mut()[field::CODE] = c.to_u8();
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
    pub fn set_identification(&mut self, id: Identification) {
        self.buffer.as_mut()[field::IDENTIFICATION].copy_from_slice(&id.0.to_be_bytes());
    }
    pub fn extensions_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::EXTENSIONS..]
    }
}

/// An owned Registration Reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationReplyRepr {
    pub code: ReplyCode,
    /// Granted lifetime in seconds (§3.4).
    pub lifetime: u16,
    pub home_address: Ipv4Addr,
    pub home_agent: Ipv4Addr,
    pub identification: Identification,
    pub extensions: Vec<Extension>,
}

impl RegistrationReplyRepr {
    /// Parses a reply; unknown extensions 0-127 mean discard (§3.5).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, MipError> {
        Ok(Self {
            code: p.code(),
            lifetime: p.lifetime(),
            home_address: p.home_address(),
            home_agent: p.home_agent(),
            identification: p.identification(),
            extensions: extension::parse_all(p.buffer.as_ref(), FIXED_LEN)?,
        })
    }

    pub fn buffer_len(&self) -> usize {
        FIXED_LEN + self.extensions.iter().map(Extension::buffer_len).sum::<usize>()
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<(), MipError> {
        if p.buffer.as_ref().len() < self.buffer_len() {
            return Err(MipError::Truncated);
        }
        p.set_type();
        p.set_code(self.code);
        p.set_lifetime(self.lifetime);
        p.set_home_address(self.home_address);
        p.set_home_agent(self.home_agent);
        p.set_identification(self.identification);
        extension::emit_all(&self.extensions, p.extensions_mut())
    }

    /// Emits the reply with a trailing MN-HA Authentication Extension signed
    /// with `key` (§3.5.2), or unsigned when `key` is `None` (a 131 reply
    /// for an SPI the HA does not know cannot be authenticated).
    pub fn to_bytes(&self, key: Option<&MnHaKey>) -> Result<Vec<u8>, AuthError> {
        let mut repr = self.clone();
        repr.extensions.retain(|e| !matches!(e, Extension::MnHaAuth { .. }));
        if let Some(k) = key {
            repr.extensions
                .push(Extension::MnHaAuth { spi: k.spi(), authenticator: vec![0; k.algorithm().authenticator_len()] });
        }
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]))?;
        if let Some(k) = key {
            auth::sign(&mut buf, FIXED_LEN, k)?;
        }
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in 0..=255u8 {
            assert_eq!(ReplyCode::from_u8(c).to_u8(), c);
        }
        assert_eq!(ReplyCode::from_u8(133), ReplyCode::HaIdentificationMismatch);
        assert!(ReplyCode::Accepted.is_accepted() && !ReplyCode::HaInsufficientResources.is_accepted());
    }

    #[test]
    fn emit_bytes_and_round_trip() {
        let r = RegistrationReplyRepr {
            code: ReplyCode::HaIdentificationMismatch,
            lifetime: 600,
            home_address: Ipv4Addr::new(10, 1, 0, 5),
            home_agent: Ipv4Addr::new(10, 1, 0, 1),
            identification: Identification(0x0102_0304_0506_0708),
            extensions: vec![Extension::MnHaAuth { spi: 0x1001, authenticator: vec![0xab; 16] }],
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(hex::encode(&buf[..21]), "038502580a0100050a010001010203040506070820");
        assert_eq!(buf[21], 20);
        assert_eq!(RegistrationReplyRepr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn malformed_replies_rejected() {
        assert_eq!(Packet::new_checked(&[3u8; 19][..]).unwrap_err(), MipError::Truncated);
        let mut b = [0u8; 20];
        b[0] = 1;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), MipError::WrongType(1));
        let mut b = [0u8; 22];
        b[0] = 3;
        b[20] = 5;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(RegistrationReplyRepr::parse(&p).unwrap_err(), MipError::UnknownNonSkippable(5));
    }
}
