//! Registration parameters (RFC 8003 §4.1): REG_INFO, REG_REQUEST,
//! REG_RESPONSE and REG_FAILED, with which a host registers with a
//! rendezvous server (RFC 8004) or another registrar.
//!
//! Lifetimes are the 8-bit encoding of §4.1:
//! 2^((value - 64) / 8) seconds.

use super::{ParamRepr, at_least};
use crate::hip::wire::Error;

/// Registration Type of the rendezvous service (RFC 8004 §4.1).
pub const REG_TYPE_RENDEZVOUS: u8 = 1;

/// REG_INFO (930): the registrar's lifetime bounds and offered services.
///
/// ```text
/// |  Min Lifetime |  Max Lifetime |  Reg Type #1  |  Reg Type #2  |
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegInfo {
    /// Shortest lifetime granted.
    pub min_lifetime: u8,
    /// Longest lifetime granted.
    pub max_lifetime: u8,
    /// Registration types offered (empty: none available right now).
    pub reg_types: Vec<u8>,
}

impl ParamRepr for RegInfo {
    const TYPE: u16 = 930;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        at_least(Self::TYPE, c, 2)?;
        Ok(RegInfo {
            min_lifetime: c[0],
            max_lifetime: c[1],
            reg_types: c[2..].to_vec(),
        })
    }

    fn contents_len(&self) -> usize {
        2 + self.reg_types.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out[0] = self.min_lifetime;
        out[1] = self.max_lifetime;
        out[2..].copy_from_slice(&self.reg_types);
    }
}

/// REG_REQUEST (932) and REG_RESPONSE (934) share a layout:
///
/// ```text
/// |   Lifetime    |  Reg Type #1  |  Reg Type #2  |  Reg Type #3  |
/// ```
macro_rules! lifetime_types_param {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name {
            /// Lifetime (0 cancels the registrations).
            pub lifetime: u8,
            /// Registration types.
            pub reg_types: Vec<u8>,
        }

        impl ParamRepr for $name {
            const TYPE: u16 = $ty;

            fn parse_contents(c: &[u8]) -> Result<Self, Error> {
                at_least(Self::TYPE, c, 1)?;
                Ok($name { lifetime: c[0], reg_types: c[1..].to_vec() })
            }

            fn contents_len(&self) -> usize {
                1 + self.reg_types.len()
            }

            fn emit_contents(&self, out: &mut [u8]) {
                out[0] = self.lifetime;
                out[1..].copy_from_slice(&self.reg_types);
            }
        }
    };
}

lifetime_types_param!(
    /// REG_REQUEST (932): registrations the requester wants.
    RegRequest,
    932
);
lifetime_types_param!(
    /// REG_RESPONSE (934): registrations the registrar granted.
    RegResponse,
    934
);

/// REG_FAILED (936): registrations refused, and why.
///
/// ```text
/// |   Lifetime    |  Reg Failure  |  Reg Type #1  |  Reg Type #2  |
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegFailed {
    /// Lifetime of the refused request.
    pub lifetime: u8,
    /// Failure type (0 additional credentials required, 1 type
    /// unavailable, 2 insufficient resources, 3 invalid certificate...).
    pub failure_type: u8,
    /// The registration types refused.
    pub reg_types: Vec<u8>,
}

impl ParamRepr for RegFailed {
    const TYPE: u16 = 936;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        at_least(Self::TYPE, c, 2)?;
        Ok(RegFailed {
            lifetime: c[0],
            failure_type: c[1],
            reg_types: c[2..].to_vec(),
        })
    }

    fn contents_len(&self) -> usize {
        2 + self.reg_types.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out[0] = self.lifetime;
        out[1] = self.failure_type;
        out[2..].copy_from_slice(&self.reg_types);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    #[test]
    fn registration_params() {
        round_trip(
            &RegInfo {
                min_lifetime: 96,
                max_lifetime: 255,
                reg_types: vec![1],
            },
            "03a2000360ff0100",
        );
        round_trip(
            &RegRequest {
                lifetime: 200,
                reg_types: vec![1],
            },
            "03a40002c8010000",
        );
        round_trip(
            &RegResponse {
                lifetime: 200,
                reg_types: vec![1, 2],
            },
            "03a60003c8010200",
        );
        round_trip(
            &RegFailed {
                lifetime: 200,
                failure_type: 1,
                reg_types: vec![1],
            },
            "03a80003c8010100",
        );
        assert_eq!(
            parse_hex::<RegInfo>("60"),
            Err(Error::BadParamLength { ty: 930, len: 1 })
        );
        assert_eq!(
            parse_hex::<RegRequest>(""),
            Err(Error::BadParamLength { ty: 932, len: 0 })
        );
    }
}
