//! The parameter TLV (RFC 7401 §5.2.1) and an iterator over a packet's
//! parameter area.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |             Type            |C|             Length            |
//! /                          Contents                             /
//! /                                               +-+-+-+-+-+-+-+-+
//! |                                               |    Padding    |
//! ```
//!
//! Length counts the contents only; padding brings the whole TLV to a
//! multiple of 8 octets. C, the critical bit, is the lowest bit of Type.

use super::super::Error;

/// Named byte ranges of a TLV.
mod field {
    use core::ops::{Range, RangeFrom};

    pub const TYPE: Range<usize> = 0..2;
    pub const LENGTH: Range<usize> = 2..4;
    pub const CONTENTS: RangeFrom<usize> = 4..;
}

/// Size of the Type and Length fields.
pub const TLV_HEADER_LEN: usize = 4;

/// Total octets of a TLV with `contents_len` octets of contents, padding
/// included: 11 + Length - (Length + 3) % 8 (§5.2.1).
pub const fn padded_len(contents_len: usize) -> usize {
    (TLV_HEADER_LEN + contents_len).div_ceil(8) * 8
}

/// Whether a parameter type has the critical bit set (§5.2.1).
pub const fn is_critical(ty: u16) -> bool {
    ty & 1 == 1
}

/// A view of one parameter TLV. `new_checked` accepts a buffer that holds
/// the TLV and its padding (and possibly more, which is ignored).
#[derive(Debug, Clone)]
pub struct ParamTlv<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ParamTlv<T> {
    /// Wrap without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        ParamTlv { buffer }
    }

    /// Wrap, checking that Type, Length, contents and padding all fit and
    /// that the padding is zero.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        let Some(&[t0, t1, l0, l1]) = b.get(..TLV_HEADER_LEN) else {
            let ty = match b {
                [t0, t1, ..] => u16::from_be_bytes([*t0, *t1]),
                _ => 0,
            };
            return Err(Error::ParamTruncated { ty });
        };
        let ty = u16::from_be_bytes([t0, t1]);
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        if b.len() < TLV_HEADER_LEN + len {
            return Err(Error::ParamTruncated { ty });
        }
        let total = padded_len(len);
        let Some(padding) = b.get(TLV_HEADER_LEN + len..total) else {
            return Err(Error::PaddingTruncated { ty });
        };
        if padding.iter().any(|&x| x != 0) {
            return Err(Error::NonZeroPadding { ty });
        }
        Ok(ParamTlv { buffer })
    }

    /// Type, critical bit included.
    pub fn param_type(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::TYPE];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Whether the critical bit is set.
    pub fn critical(&self) -> bool {
        is_critical(self.param_type())
    }

    /// Length of the contents.
    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The contents, without padding.
    pub fn contents(&self) -> &[u8] {
        let end = TLV_HEADER_LEN + usize::from(self.length());
        &self.buffer.as_ref()[TLV_HEADER_LEN..end]
    }

    /// Octets the TLV occupies, padding included.
    pub fn total_len(&self) -> usize {
        padded_len(usize::from(self.length()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ParamTlv<T> {
    /// Set Type.
    pub fn set_param_type(&mut self, ty: u16) {
        self.buffer.as_mut()[field::TYPE].copy_from_slice(&ty.to_be_bytes());
    }

    /// Set Length (contents only).
    pub fn set_length(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    /// The contents, writable (Length must be set first).
    pub fn contents_mut(&mut self) -> &mut [u8] {
        let end = TLV_HEADER_LEN + usize::from(self.length());
        &mut self.buffer.as_mut()[field::CONTENTS][..end - TLV_HEADER_LEN]
    }

    /// Zero the padding after the contents (Length must be set first).
    pub fn zero_padding(&mut self) {
        let start = TLV_HEADER_LEN + usize::from(self.length());
        let end = self.total_len();
        self.buffer.as_mut()[start..end].fill(0);
    }
}

/// One parameter as the iterator yields it: where it starts in the
/// parameter area, and its TLV.
#[derive(Debug, Clone)]
pub struct RawParam<'a> {
    /// Offset of the TLV from the start of the parameter area.
    pub offset: usize,
    /// The TLV (its buffer ends with its padding).
    pub tlv: ParamTlv<&'a [u8]>,
}

/// Iterator over a parameter area. It checks every TLV's extent and
/// padding and the ascending type order (§5.2.1), yields at most one
/// error and then stops, and never panics.
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    area: &'a [u8],
    offset: usize,
    prev: Option<u16>,
    failed: bool,
}

impl<'a> ParamIter<'a> {
    /// Iterate over `area`, the bytes after the fixed header.
    pub fn new(area: &'a [u8]) -> Self {
        ParamIter { area, offset: 0, prev: None, failed: false }
    }
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Result<RawParam<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = self.area.get(self.offset..).filter(|r| !r.is_empty())?;
        let tlv = match ParamTlv::new_checked(rest) {
            Ok(t) => t,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let ty = tlv.param_type();
        // Several parameters of one type (e.g. ECHO_REQUEST_UNSIGNED in R1,
        // §5.3.2) sit next to each other, so only a decrease is an error.
        if let Some(prev) = self.prev
            && ty < prev
        {
            self.failed = true;
            return Some(Err(Error::ParamOrder { prev, ty }));
        }
        self.prev = Some(ty);
        let total = tlv.total_len();
        let offset = self.offset;
        let tlv = ParamTlv::new_unchecked(&rest[..total]);
        self.offset += total;
        Some(Ok(RawParam { offset, tlv }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_len_matches_rfc_formula() {
        for len in 0..64usize {
            assert_eq!(padded_len(len), 11 + len - (len + 3) % 8, "len {len}");
        }
    }

    #[test]
    fn critical_bit() {
        assert!(is_critical(511));
        assert!(!is_critical(832));
    }

    #[test]
    fn iterates_in_order() {
        // DH_GROUP_LIST (511, 6 bytes) then a 0-length unknown 1000.
        let area = hex::decode("01ff000607090803040a00000000000003e8000000000000").unwrap();
        let v: Vec<_> = ParamIter::new(&area).collect::<Result<_, _>>().unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].offset, v[0].tlv.param_type(), v[0].tlv.contents()), (0, 511, &[7, 9, 8, 3, 4, 10][..]));
        assert_eq!((v[1].offset, v[1].tlv.param_type(), v[1].tlv.length()), (16, 1000, 0));
    }

    #[test]
    fn malformed_tlvs() {
        let cases: [(&str, Error); 4] = [
            // Type only, no Length.
            ("01ff", Error::ParamTruncated { ty: 511 }),
            // Length 6 but 4 contents octets.
            ("01ff000607090803", Error::ParamTruncated { ty: 511 }),
            // Contents complete, padding cut.
            ("01ff000607090803040a00", Error::PaddingTruncated { ty: 511 }),
            // Non-zero padding.
            ("01ff000607090803040a000000000001", Error::NonZeroPadding { ty: 511 }),
        ];
        for (h, e) in &cases {
            let area = hex::decode(h).unwrap();
            let r: Result<Vec<_>, _> = ParamIter::new(&area).collect();
            assert_eq!(r.unwrap_err(), *e, "{h}");
        }
        let area = hex::decode("020100000000000001ff000000000000").unwrap();
        let r: Result<Vec<_>, _> = ParamIter::new(&area).collect();
        assert_eq!(r.unwrap_err(), Error::ParamOrder { prev: 513, ty: 511 });
        // A lone trailing octet cannot even hold a Type.
        let area = hex::decode("01ff00000000000000").unwrap();
        let r: Result<Vec<_>, _> = ParamIter::new(&area).collect();
        assert_eq!(r.unwrap_err(), Error::ParamTruncated { ty: 0 });
    }

    #[test]
    fn stops_after_error() {
        let area = hex::decode("01ff0006").unwrap();
        let mut it = ParamIter::new(&area);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }
}
