//! Authentication parameters: HIP_MAC (RFC 7401 §5.2.12), HIP_MAC_2
//! (§5.2.13), HIP_SIGNATURE (§5.2.14) and HIP_SIGNATURE_2 (§5.2.15).
//! What each covers is computed by [`crate::hip::wire::auth_input`].

use super::{ParamRepr, at_least, be16, opaque_param};
use crate::hip::wire::Error;

opaque_param!(
    /// HIP_MAC (61505): HMAC over the packet up to this parameter
    /// (§5.2.12). Its length is that of the negotiated HMAC.
    HipMac,
    61505,
    hmac
);
opaque_param!(
    /// HIP_MAC_2 (61569): HMAC over the packet up to this parameter with
    /// the sender's HOST_ID added (§5.2.13).
    HipMac2,
    61569,
    hmac
);

mod field {
    use core::ops::{Range, RangeFrom};
    pub const SIG_ALG: Range<usize> = 0..2;
    pub const SIGNATURE: RangeFrom<usize> = 2..;
}

/// Shared layout of the two signature parameters:
///
/// ```text
/// |    SIG alg                    |            Signature          /
/// ```
macro_rules! signature_param {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name {
            /// Signature algorithm (the HI algorithm numbers: 5 RSA,
            /// 7 ECDSA, 9 ECDSA_LOW).
            pub algorithm: u16,
            /// The signature.
            pub signature: Vec<u8>,
        }

        impl ParamRepr for $name {
            const TYPE: u16 = $ty;

            fn parse_contents(c: &[u8]) -> Result<Self, Error> {
                at_least(Self::TYPE, c, field::SIGNATURE.start)?;
                Ok($name { algorithm: be16(c, field::SIG_ALG), signature: c[field::SIGNATURE].to_vec() })
            }

            fn contents_len(&self) -> usize {
                field::SIGNATURE.start + self.signature.len()
            }

            fn emit_contents(&self, out: &mut [u8]) {
                out[field::SIG_ALG].copy_from_slice(&self.algorithm.to_be_bytes());
                out[field::SIGNATURE].copy_from_slice(&self.signature);
            }
        }
    };
}

signature_param!(
    /// HIP_SIGNATURE (61697): signature over the packet up to this
    /// parameter (§5.2.14).
    HipSignature,
    61697
);
signature_param!(
    /// HIP_SIGNATURE_2 (61633): the R1 signature, computed with the
    /// Initiator's HIT and the PUZZLE's Opaque and Random #I zeroed so R1s
    /// can be pre-computed (§5.2.15).
    HipSignature2,
    61633
);

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    #[test]
    fn macs() {
        round_trip(&HipMac { hmac: vec![0x11; 4] }, "f041000411111111");
        round_trip(&HipMac2 { hmac: vec![0x22; 5] }, "f0810005222222222200000000000000");
    }

    #[test]
    fn signatures() {
        round_trip(&HipSignature { algorithm: 5, signature: vec![0xee; 2] }, "f10100040005eeee");
        round_trip(&HipSignature2 { algorithm: 7, signature: vec![0xdd; 3] }, "f0c100050007dddddd00000000000000");
        assert_eq!(parse_hex::<HipSignature>("05"), Err(Error::BadParamLength { ty: 61697, len: 1 }));
    }
}
