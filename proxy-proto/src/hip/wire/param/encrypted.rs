//! ENCRYPTED (RFC 7401 §5.2.18): parameters encrypted with the cipher
//! HIP_CIPHER chose.
//!
//! ```text
//! |                           Reserved                            |
//! |                              IV                              /
//! /                        Encrypted data                        /
//! ```
//!
//! The IV's length depends on the cipher (16 octets for AES-CBC, none for
//! NULL-ENCRYPT), which this layer does not know, so IV and data stay
//! together; [`Encrypted::split_iv`] separates them once the cipher is known.

use super::{ParamRepr, at_least};
use crate::hip::wire::Error;

mod field {
    use core::ops::RangeFrom;
    pub const RESERVED_LEN: usize = 4;
    pub const IV_AND_DATA: RangeFrom<usize> = 4..;
}

/// ENCRYPTED (641).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Encrypted {
    /// The IV followed by the encrypted data.
    pub iv_and_data: Vec<u8>,
}

impl Encrypted {
    /// Split into (IV, encrypted data) for a cipher whose IV is `iv_len`
    /// octets; `None` if the parameter is shorter.
    pub fn split_iv(&self, iv_len: usize) -> Option<(&[u8], &[u8])> {
        (iv_len <= self.iv_and_data.len()).then(|| self.iv_and_data.split_at(iv_len))
    }
}

impl ParamRepr for Encrypted {
    const TYPE: u16 = 641;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        at_least(Self::TYPE, c, field::RESERVED_LEN)?;
        Ok(Encrypted { iv_and_data: c[field::IV_AND_DATA].to_vec() })
    }

    fn contents_len(&self) -> usize {
        field::RESERVED_LEN + self.iv_and_data.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out[..field::RESERVED_LEN].fill(0);
        out[field::IV_AND_DATA].copy_from_slice(&self.iv_and_data);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    #[test]
    fn encrypted() {
        let e = Encrypted { iv_and_data: vec![1, 2, 3, 4, 5] };
        round_trip(&e, "02810009000000000102030405000000");
        assert_eq!(e.split_iv(2), Some((&[1, 2][..], &[3, 4, 5][..])));
        assert_eq!(e.split_iv(6), None);
        assert_eq!(parse_hex::<Encrypted>("000000"), Err(Error::BadParamLength { ty: 641, len: 3 }));
    }
}
