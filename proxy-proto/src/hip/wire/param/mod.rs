//! HIP parameters (RFC 7401 §5.2 and the RFCs that add parameters): the
//! TLV framing, one owned `Repr` per parameter type, and [`Param`], the
//! enum of them all.

mod any;
pub mod auth;
pub mod dh;
pub mod echo;
pub mod encrypted;
pub mod esp;
pub mod host_id;
pub mod locator;
pub mod notification;
pub mod puzzle;
pub mod registration;
pub mod rvs;
pub mod suites;
pub mod tlv;
pub mod update;

pub use any::{Param, TypedParam};

use super::Error;
use tlv::{ParamTlv, padded_len};

/// An owned parameter: parse from and emit to a [`ParamTlv`].
///
/// Implementors describe their contents; the TLV framing (Type, Length,
/// zero padding to 8 octets) is shared here.
pub trait ParamRepr: Sized {
    /// The parameter type number, critical bit included.
    const TYPE: u16;

    /// Parse the contents (without Type, Length and padding). Never panics.
    fn parse_contents(contents: &[u8]) -> Result<Self, Error>;

    /// Length of the contents this value emits.
    fn contents_len(&self) -> usize;

    /// Write the contents into `out`, which is exactly
    /// [`ParamRepr::contents_len`] octets long.
    fn emit_contents(&self, out: &mut [u8]);

    /// Parse a TLV of this type.
    fn parse(tlv: &ParamTlv<&[u8]>) -> Result<Self, Error> {
        if tlv.param_type() != Self::TYPE {
            return Err(Error::BadParamValue { ty: tlv.param_type() });
        }
        Self::parse_contents(tlv.contents())
    }

    /// Octets the TLV needs, padding included.
    fn buffer_len(&self) -> usize {
        padded_len(self.contents_len())
    }

    /// Emit Type, Length, contents and zero padding into a buffer of at
    /// least [`ParamRepr::buffer_len`] octets.
    ///
    /// # Panics
    /// If the buffer is shorter, or the contents exceed 65535 octets (a
    /// HIP packet holds at most 2048; [`super::HipPacket::emit`] checks).
    fn emit(&self, tlv: &mut ParamTlv<&mut [u8]>) {
        let len = u16::try_from(self.contents_len()).expect("parameter contents exceed 65535 octets");
        tlv.set_param_type(Self::TYPE);
        tlv.set_length(len);
        self.emit_contents(tlv.contents_mut());
        tlv.zero_padding();
    }
}

/// Contents that must be exactly `N` octets long.
fn exact<const N: usize>(ty: u16, contents: &[u8]) -> Result<[u8; N], Error> {
    <[u8; N]>::try_from(contents).map_err(|_| Error::BadParamLength { ty, len: contents.len() })
}

/// Contents that must be at least `min` octets long.
fn at_least(ty: u16, contents: &[u8], min: usize) -> Result<(), Error> {
    if contents.len() < min { Err(Error::BadParamLength { ty, len: contents.len() }) } else { Ok(()) }
}

/// Split contents into big-endian 16-bit entries (odd length rejected).
fn u16_list(ty: u16, contents: &[u8]) -> Result<Vec<u16>, Error> {
    if !contents.len().is_multiple_of(2) {
        return Err(Error::BadParamLength { ty, len: contents.len() });
    }
    Ok(contents.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
}

/// Big-endian 16 bits at a named range; the caller checked the length.
fn be16(c: &[u8], r: core::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([c[r.start], c[r.start + 1]])
}

/// Big-endian 32 bits at a named range; the caller checked the length.
fn be32(c: &[u8], r: core::ops::Range<usize>) -> u32 {
    u32::from_be_bytes([c[r.start], c[r.start + 1], c[r.start + 2], c[r.start + 3]])
}

fn emit_u16_list(list: &[u16], out: &mut [u8]) {
    for (o, v) in out.chunks_exact_mut(2).zip(list) {
        o.copy_from_slice(&v.to_be_bytes());
    }
}

/// A parameter whose contents are one opaque octet string.
macro_rules! opaque_param {
    ($(#[$doc:meta])* $name:ident, $ty:expr, $field:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name {
            #[allow(missing_docs)]
            pub $field: Vec<u8>,
        }

        impl $crate::hip::wire::param::ParamRepr for $name {
            const TYPE: u16 = $ty;

            fn parse_contents(contents: &[u8]) -> Result<Self, $crate::hip::wire::Error> {
                Ok($name { $field: contents.to_vec() })
            }

            fn contents_len(&self) -> usize {
                self.$field.len()
            }

            fn emit_contents(&self, out: &mut [u8]) {
                out.copy_from_slice(&self.$field);
            }
        }
    };
}
pub(crate) use opaque_param;

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// Emit `p` as a TLV, check the bytes, parse them back, and check
    /// the value survives.
    pub fn round_trip<P: ParamRepr + PartialEq + core::fmt::Debug>(p: &P, expect_hex: &str) {
        let mut buf = vec![0xaa; p.buffer_len()];
        p.emit(&mut ParamTlv::new_unchecked(&mut buf[..]));
        assert_eq!(hex::encode(&buf), expect_hex);
        let tlv = ParamTlv::new_checked(&buf[..]).unwrap();
        assert_eq!(&P::parse(&tlv).unwrap(), p);
    }

    /// Parse contents given as hex.
    pub fn parse_hex<P: ParamRepr>(contents: &str) -> Result<P, Error> {
        P::parse_contents(&hex::decode(contents).unwrap())
    }
}
