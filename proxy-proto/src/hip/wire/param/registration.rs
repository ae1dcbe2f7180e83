//! Registration parameters (RFC 8003 §4.1): REG_INFO, REG_REQUEST,
//! REG_RESPONSE and REG_FAILED, with which a host registers with a
//! rendezvous server (RFC 8004) or another registrar.
//!
//! Lifetimes are the 8-bit encoding of §4.1:
//! 2^((value - 64) / 8) seconds.

use super::{ParamRepr, at_least};
use crate::hip::wire::Error;

/// Named ranges of the registration parameters' contents.
mod field {
    use core::ops::RangeFrom;
    /// REG_INFO: Min Lifetime; the others: Lifetime.
    pub const LIFETIME: usize = 0;
    /// REG_INFO: Max Lifetime; REG_FAILED: Reg Failure Type.
    pub const SECOND: usize = 1;
    /// Reg Types after a single Lifetime octet (REG_REQUEST, REG_RESPONSE).
    pub const TYPES_AFTER_ONE: RangeFrom<usize> = 1..;
    /// Reg Types after two octets (REG_INFO, REG_FAILED).
    pub const TYPES_AFTER_TWO: RangeFrom<usize> = 2..;
}

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
        at_least(Self::TYPE, c, field::TYPES_AFTER_TWO.start)?;
        Ok(RegInfo {
            min_lifetime: c[field::LIFETIME],
            max_lifetime: c[field::SECOND],
            reg_types: c[field::TYPES_AFTER_TWO].to_vec(),
        })
    }

    fn contents_len(&self) -> usize {
        2 + self.reg_types.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out[field::LIFETIME] = self.min_lifetime;
        out[field::SECOND] = self.max_lifetime;
        out[field::TYPES_AFTER_TWO].copy_from_slice(&self.reg_types);
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
                at_least(Self::TYPE, c, field::TYPES_AFTER_ONE.start)?;
                Ok($name { lifetime: c[field::LIFETIME], reg_types: c[field::TYPES_AFTER_ONE].to_vec() })
            }

            fn contents_len(&self) -> usize {
                1 + self.reg_types.len()
            }

            fn emit_contents(&self, out: &mut [u8]) {
                out[field::LIFETIME] = self.lifetime;
                out[field::TYPES_AFTER_ONE].copy_from_slice(&self.reg_types);
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
        at_least(Self::TYPE, c, field::TYPES_AFTER_TWO.start)?;
        Ok(RegFailed {
            lifetime: c[field::LIFETIME],
            failure_type: c[field::SECOND],
            reg_types: c[field::TYPES_AFTER_TWO].to_vec(),
        })
    }

    fn contents_len(&self) -> usize {
        2 + self.reg_types.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out[field::LIFETIME] = self.lifetime;
        out[field::SECOND] = self.failure_type;
        out[field::TYPES_AFTER_TWO].copy_from_slice(&self.reg_types);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    #[test]
    fn registration_params() {
        round_trip(&RegInfo { min_lifetime: 96, max_lifetime: 255, reg_types: vec![1] }, "03a2000360ff0100");
        round_trip(&RegRequest { lifetime: 200, reg_types: vec![1] }, "03a40002c8010000");
        round_trip(&RegResponse { lifetime: 200, reg_types: vec![1, 2] }, "03a60003c8010200");
        round_trip(&RegFailed { lifetime: 200, failure_type: 1, reg_types: vec![1] }, "03a80003c8010100");
        assert_eq!(parse_hex::<RegInfo>("60"), Err(Error::BadParamLength { ty: 930, len: 1 }));
        assert_eq!(parse_hex::<RegRequest>(""), Err(Error::BadParamLength { ty: 932, len: 0 }));
    }
}
