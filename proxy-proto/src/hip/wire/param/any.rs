//! [`Param`]: any HIP parameter, typed where this module knows the type.

use super::ParamRepr;
use super::auth::{HipMac, HipMac2, HipSignature, HipSignature2};
use super::dh::{DhGroupList, DiffieHellman};
use super::echo::{EchoRequestSigned, EchoRequestUnsigned, EchoResponseSigned, EchoResponseUnsigned};
use super::encrypted::Encrypted;
use super::esp::{EspInfo, EspTransform};
use super::host_id::HostId;
use super::locator::LocatorSet;
use super::notification::Notification;
use super::puzzle::{Puzzle, R1Counter, Solution};
use super::registration::{RegFailed, RegInfo, RegRequest, RegResponse};
use super::rvs::{RvsFrom, RvsHmac, ViaRvs};
use super::suites::{HipCipher, HitSuiteList, TransportFormatList};
use super::tlv::{ParamTlv, is_critical, padded_len};
use super::update::{Ack, Seq};
use crate::hip::wire::Error;

/// A parameter type that is a variant of [`Param`]: lets callers ask a
/// packet for "the PUZZLE" by type rather than by matching.
pub trait TypedParam: ParamRepr {
    /// The value if `p` is this variant.
    fn from_param(p: &Param) -> Option<&Self>;
}

macro_rules! params {
    ($($variant:ident),* $(,)?) => {
        /// One parameter. Unknown non-critical parameters are kept with
        /// their type and contents so they survive a parse/emit round trip;
        /// unknown critical ones never get here ([`Error::UnsupportedCriticalParam`]).
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Param {
            $(
                #[allow(missing_docs)]
                $variant($variant),
            )*
            /// A parameter type this module does not know (critical bit clear).
            Unknown {
                /// Parameter type.
                ty: u16,
                /// Contents, without padding.
                contents: Vec<u8>,
            },
        }

        impl Param {
            /// The parameter type number.
            pub fn param_type(&self) -> u16 {
                match self {
                    $(Param::$variant(_) => $variant::TYPE,)*
                    Param::Unknown { ty, .. } => *ty,
                }
            }

            /// Whether `ty` is a type this module parses into a typed variant.
            pub fn is_known_type(ty: u16) -> bool {
                matches!(ty, $($variant::TYPE)|*)
            }

            /// Parse a TLV. An unknown type with the critical bit set is
            /// rejected so the packet is dropped and answered with NOTIFY
            /// UNSUPPORTED_CRITICAL_PARAMETER_TYPE (§5.2.1).
            pub fn parse(tlv: &ParamTlv<&[u8]>) -> Result<Param, Error> {
                let ty = tlv.param_type();
                let c = tlv.contents();
                Ok(match ty {
                    $($variant::TYPE => Param::$variant($variant::parse_contents(c)?),)*
                    _ if is_critical(ty) => return Err(Error::UnsupportedCriticalParam { ty }),
                    _ => Param::Unknown { ty, contents: c.to_vec() },
                })
            }

            /// Length of the contents.
            pub fn contents_len(&self) -> usize {
                match self {
                    $(Param::$variant(p) => p.contents_len(),)*
                    Param::Unknown { contents, .. } => contents.len(),
                }
            }

            /// Octets the TLV needs, padding included.
            pub fn buffer_len(&self) -> usize {
                padded_len(self.contents_len())
            }

            /// Emit Type, Length, contents and zero padding into a buffer of
            /// at least [`Param::buffer_len`] octets.
            ///
            /// # Panics
            /// If the buffer is shorter or the contents exceed 65535 octets.
            pub fn emit(&self, tlv: &mut ParamTlv<&mut [u8]>) {
                match self {
                    $(Param::$variant(p) => p.emit(tlv),)*
                    Param::Unknown { ty, contents } => {
                        let len = u16::try_from(contents.len()).expect("parameter contents exceed 65535 octets");
                        tlv.set_param_type(*ty);
                        tlv.set_length(len);
                        tlv.contents_mut().copy_from_slice(contents);
                        tlv.zero_padding();
                    }
                }
            }
        }

        $(
            impl core::convert::From<$variant> for Param {
                fn from(p: $variant) -> Param {
                    Param::$variant(p)
                }
            }

            impl TypedParam for $variant {
                fn from_param(p: &Param) -> Option<&Self> {
                    match p {
                        Param::$variant(v) => Some(v),
                        _ => None,
                    }
                }
            }
        )*
    };
}

params!(
    EspInfo,
    R1Counter,
    LocatorSet,
    Puzzle,
    Solution,
    Seq,
    Ack,
    DhGroupList,
    DiffieHellman,
    HipCipher,
    Encrypted,
    HostId,
    HitSuiteList,
    Notification,
    EchoRequestSigned,
    RegInfo,
    RegRequest,
    RegResponse,
    RegFailed,
    EchoResponseSigned,
    TransportFormatList,
    EspTransform,
    HipMac,
    HipMac2,
    HipSignature2,
    HipSignature,
    EchoResponseUnsigned,
    EchoRequestUnsigned,
    RvsFrom,
    RvsHmac,
    ViaRvs,
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type number as RFC 7401 §5.2, RFC 7402 §5.1, RFC 8046 §4,
    /// RFC 8003 §4.1 and RFC 8004 §4.2 (and the IANA registry) assign it.
    #[test]
    fn type_numbers() {
        let expect: [(u16, u16); 31] = [
            (EspInfo::TYPE, 65),
            (R1Counter::TYPE, 129),
            (LocatorSet::TYPE, 193),
            (Puzzle::TYPE, 257),
            (Solution::TYPE, 321),
            (Seq::TYPE, 385),
            (Ack::TYPE, 449),
            (DhGroupList::TYPE, 511),
            (DiffieHellman::TYPE, 513),
            (HipCipher::TYPE, 579),
            (Encrypted::TYPE, 641),
            (HostId::TYPE, 705),
            (HitSuiteList::TYPE, 715),
            (Notification::TYPE, 832),
            (EchoRequestSigned::TYPE, 897),
            (RegInfo::TYPE, 930),
            (RegRequest::TYPE, 932),
            (RegResponse::TYPE, 934),
            (RegFailed::TYPE, 936),
            (EchoResponseSigned::TYPE, 961),
            (TransportFormatList::TYPE, 2049),
            (EspTransform::TYPE, 4095),
            (HipMac::TYPE, 61505),
            (HipMac2::TYPE, 61569),
            (HipSignature2::TYPE, 61633),
            (HipSignature::TYPE, 61697),
            (EchoResponseUnsigned::TYPE, 63425),
            (EchoRequestUnsigned::TYPE, 63661),
            (RvsFrom::TYPE, 65498),
            (RvsHmac::TYPE, 65500),
            (ViaRvs::TYPE, 65502),
        ];
        for (got, want) in expect {
            assert_eq!(got, want);
            assert!(Param::is_known_type(want));
        }
        assert!(!Param::is_known_type(577));
    }

    #[test]
    fn unknown_types() {
        // Unknown, not critical: kept.
        let buf = hex::decode("0fa0000201020000").unwrap();
        let tlv = ParamTlv::new_checked(&buf[..]).unwrap();
        let p = Param::parse(&tlv).unwrap();
        assert_eq!(p, Param::Unknown { ty: 4000, contents: vec![1, 2] });
        let mut out = vec![0xff; p.buffer_len()];
        p.emit(&mut ParamTlv::new_unchecked(&mut out[..]));
        assert_eq!(out, buf);
        // Unknown, critical: rejected with the type.
        let buf = hex::decode("0fa1000201020000").unwrap();
        let tlv = ParamTlv::new_checked(&buf[..]).unwrap();
        assert_eq!(Param::parse(&tlv), Err(Error::UnsupportedCriticalParam { ty: 4001 }));
    }
}
