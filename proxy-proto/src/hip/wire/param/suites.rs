//! Algorithm negotiation lists: HIP_CIPHER (RFC 7401 §5.2.8),
//! HIT_SUITE_LIST (§5.2.10) and TRANSPORT_FORMAT_LIST (§5.2.11).

use super::{ParamRepr, emit_u16_list, u16_list};
use crate::hip::wire::Error;

/// HIP_CIPHER (579): Cipher IDs for the ENCRYPTED parameter, most
/// preferred first (§5.2.8). Two octets each; IANA "HIP Cipher ID"
/// (1 NULL-ENCRYPT, 2 AES-128-CBC, 4 AES-256-CBC).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HipCipher {
    /// Cipher IDs in preference order.
    pub ciphers: Vec<u16>,
}

impl ParamRepr for HipCipher {
    const TYPE: u16 = 579;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        Ok(HipCipher { ciphers: u16_list(Self::TYPE, c)? })
    }

    fn contents_len(&self) -> usize {
        self.ciphers.len() * 2
    }

    fn emit_contents(&self, out: &mut [u8]) {
        emit_u16_list(&self.ciphers, out);
    }
}

/// HIT_SUITE_LIST (715): the HIT suites the Responder supports, most
/// preferred first (§5.2.10). One octet per entry: the 4-bit HIT Suite ID
/// in the high-order bits (the ORCHID OGA ID), the low bits reserved.
/// The octets are kept as sent; [`HitSuiteList::suite_ids`] reads the IDs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HitSuiteList {
    /// The ID octets as on the wire.
    pub ids: Vec<u8>,
}

impl HitSuiteList {
    /// The 4-bit HIT Suite IDs (1 RSA,DSA/SHA-256; 2 ECDSA/SHA-384;
    /// 3 ECDSA_LOW/SHA-1).
    pub fn suite_ids(&self) -> impl Iterator<Item = u8> + '_ {
        self.ids.iter().map(|b| b >> 4)
    }

    /// A list from 4-bit suite IDs.
    pub fn from_suite_ids(ids: &[u8]) -> Self {
        HitSuiteList { ids: ids.iter().map(|id| (id & 0x0f) << 4).collect() }
    }
}

impl ParamRepr for HitSuiteList {
    const TYPE: u16 = 715;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        Ok(HitSuiteList { ids: c.to_vec() })
    }

    fn contents_len(&self) -> usize {
        self.ids.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.ids);
    }
}

/// TRANSPORT_FORMAT_LIST (2049): the transport formats the sender
/// supports, by the parameter type that negotiates each (e.g. 4095,
/// ESP_TRANSFORM), most preferred first (§5.2.11).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransportFormatList {
    /// Parameter types of the transport formats.
    pub formats: Vec<u16>,
}

impl ParamRepr for TransportFormatList {
    const TYPE: u16 = 2049;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        Ok(TransportFormatList { formats: u16_list(Self::TYPE, c)? })
    }

    fn contents_len(&self) -> usize {
        self.formats.len() * 2
    }

    fn emit_contents(&self, out: &mut [u8]) {
        emit_u16_list(&self.formats, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    /// R1's HIP_CIPHER in the capture: AES-256-CBC, AES-128-CBC, NULL.
    #[test]
    fn hip_cipher() {
        round_trip(&HipCipher { ciphers: vec![4, 2, 1] }, "02430006000400020001000000000000");
        assert_eq!(parse_hex::<HipCipher>("000400"), Err(Error::BadParamLength { ty: 579, len: 3 }));
    }

    /// R1's HIT_SUITE_LIST in the capture: suites 1, 2, 3.
    #[test]
    fn hit_suite_list() {
        let l = HitSuiteList::from_suite_ids(&[1, 2, 3]);
        round_trip(&l, "02cb000310203000");
        assert_eq!(l.suite_ids().collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn transport_format_list() {
        round_trip(&TransportFormatList { formats: vec![4095] }, "080100020fff0000");
        assert_eq!(parse_hex::<TransportFormatList>("0f"), Err(Error::BadParamLength { ty: 2049, len: 1 }));
    }
}
