//! The return-routability check of a new care-of address (our extension,
//! documented in `SIU.md`). When the gateway first sees a Registration
//! Request from a new outer source address it sends a Challenge through the
//! MN's SA to that address; the MN echoes the nonce back in a Response
//! through its outbound SA. Only a node that receives at the address (and
//! holds the SA keys, since both travel inside ESP) can answer.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |   Type=255    | Subtype=2/3   |   Version=1   |   Reserved    |
//! |                  Care-of Address under test                   |
//! +                                                               +
//! |                      Nonce (16 octets)                        |
//! +                                                               +
//! |                                                               |
//! ```

use core::net::Ipv4Addr;

use super::ipv4::addr;
use super::siu::{TYPE_EXPERIMENTAL, VERSION};

/// Subtype of the Challenge (GW to MN).
pub const SUBTYPE_CHALLENGE: u8 = 2;
/// Subtype of the Response (MN to GW).
pub const SUBTYPE_RESPONSE: u8 = 3;
/// Nonce length: 128 bits, unguessable.
pub const NONCE_LEN: usize = 16;

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const SUBTYPE: usize = 1;
    pub const VERSION: usize = 2;
    pub const CARE_OF_ADDRESS: Range<usize> = 4..8;
    pub const NONCE: Range<usize> = 8..24;
}

/// Length of the message.
pub const LEN: usize = field::NONCE.end;

/// Errors of the return-routability message layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RrError {
    #[error("return-routability message must be exactly {LEN} bytes")]
    Length,
    #[error("not a return-routability message (type {0}, subtype {1})")]
    NotRr(u8, u8),
    #[error("unsupported version {0}")]
    Version(u8),
}

/// Which way the message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RrKind {
    Challenge,
    Response,
}

/// An owned Challenge or Response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RrRepr {
    pub kind: RrKind,
    pub care_of_address: Ipv4Addr,
    pub nonce: [u8; NONCE_LEN],
}

impl RrRepr {
    pub fn parse(b: &[u8]) -> Result<Self, RrError> {
        if b.len() != LEN {
            return Err(RrError::Length);
        }
        let kind = match (b[field::TYPE], b[field::SUBTYPE]) {
            (TYPE_EXPERIMENTAL, SUBTYPE_CHALLENGE) => RrKind::Challenge,
            (TYPE_EXPERIMENTAL, SUBTYPE_RESPONSE) => RrKind::Response,
            (t, s) => return Err(RrError::NotRr(t, s)),
        };
        if b[field::VERSION] != VERSION {
            return Err(RrError::Version(b[field::VERSION]));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&b[field::NONCE]);
        Ok(Self { kind, care_of_address: addr(&b[field::CARE_OF_ADDRESS]), nonce })
    }

    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    pub fn to_bytes(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[field::TYPE] = TYPE_EXPERIMENTAL;
        b[field::SUBTYPE] = match self.kind {
            RrKind::Challenge => SUBTYPE_CHALLENGE,
            RrKind::Response => SUBTYPE_RESPONSE,
        };
        b[field::VERSION] = VERSION;
        b[field::CARE_OF_ADDRESS].copy_from_slice(&self.care_of_address.octets());
        b[field::NONCE].copy_from_slice(&self.nonce);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bytes() {
        let r = RrRepr { kind: RrKind::Challenge, care_of_address: Ipv4Addr::new(198, 51, 100, 23), nonce: [7; 16] };
        let b = r.to_bytes();
        assert_eq!(hex::encode(&b[..8]), "ff020100c6336417");
        assert_eq!(RrRepr::parse(&b).unwrap(), r);
        let resp = RrRepr { kind: RrKind::Response, ..r };
        assert_eq!(resp.to_bytes()[1], 3);
        assert_eq!(RrRepr::parse(&resp.to_bytes()).unwrap().kind, RrKind::Response);
    }

    #[test]
    fn malformed_rejected() {
        let b = RrRepr { kind: RrKind::Response, care_of_address: Ipv4Addr::LOCALHOST, nonce: [1; 16] }.to_bytes();
        assert_eq!(RrRepr::parse(&b[..23]).unwrap_err(), RrError::Length);
        let mut t = b;
        t[1] = 1;
        assert_eq!(RrRepr::parse(&t).unwrap_err(), RrError::NotRr(255, 1));
        let mut t = b;
        t[2] = 2;
        assert_eq!(RrRepr::parse(&t).unwrap_err(), RrError::Version(2));
    }
}
