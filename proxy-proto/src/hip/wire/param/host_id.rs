//! HOST_ID (RFC 7401 §5.2.9): a Host Identity and an optional Domain
//! Identifier.
//!
//! ```text
//! |             HI Length         |DI-Type|      DI Length        |
//! |          Algorithm            |         Host Identity         /
//! /                               |       Domain Identifier       /
//! ```
//!
//! HI Length counts the Host Identity only (the capture's RSA-2048 HI is
//! 260 octets: RFC 3110 exponent length, exponent, modulus). The key
//! encodings themselves belong to `hip::crypto`; here the HI stays opaque.

use super::{ParamRepr, at_least, be16};
use crate::hip::wire::Error;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const HI_LENGTH: Range<usize> = 0..2;
    /// DI-Type in the high 4 bits, DI Length in the low 12.
    pub const DI: Range<usize> = 2..4;
    pub const ALGORITHM: Range<usize> = 4..6;
    pub const HOST_IDENTITY: RangeFrom<usize> = 6..;
}

/// HI algorithms (IANA "HI Algorithm"; §5.2.9).
pub mod algorithm {
    /// DSA (RFC 2536).
    pub const DSA: u16 = 3;
    /// RSA (RFC 3110).
    pub const RSA: u16 = 5;
    /// ECDSA (RFC 6090).
    pub const ECDSA: u16 = 7;
    /// ECDSA_LOW (SECP160R1).
    pub const ECDSA_LOW: u16 = 9;
}

/// Domain Identifier types (§5.2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiType {
    /// 0: no Domain Identifier.
    None,
    /// 1: a fully qualified domain name, in binary (wire) format.
    Fqdn,
    /// 2: a Network Access Identifier (user@domain).
    Nai,
    /// Any other 4-bit value.
    Unknown(u8),
}

impl From<u8> for DiType {
    fn from(v: u8) -> Self {
        match v {
            0 => DiType::None,
            1 => DiType::Fqdn,
            2 => DiType::Nai,
            o => DiType::Unknown(o),
        }
    }
}

impl From<DiType> for u8 {
    fn from(t: DiType) -> u8 {
        match t {
            DiType::None => 0,
            DiType::Fqdn => 1,
            DiType::Nai => 2,
            DiType::Unknown(v) => v & 0x0f,
        }
    }
}

/// HOST_ID (705).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostId {
    /// HI algorithm (see [`algorithm`]).
    pub algorithm: u16,
    /// The Host Identity in the algorithm's encoding, opaque here.
    pub host_identity: Vec<u8>,
    /// Type of the Domain Identifier.
    pub di_type: DiType,
    /// The Domain Identifier (at most 4095 octets).
    pub domain_identifier: Vec<u8>,
}

/// The largest DI Length 12 bits can carry.
const MAX_DI_LEN: usize = 0x0fff;

impl ParamRepr for HostId {
    const TYPE: u16 = 705;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        at_least(Self::TYPE, c, field::HOST_IDENTITY.start)?;
        let hi_len = usize::from(be16(c, field::HI_LENGTH));
        let di = be16(c, field::DI);
        let di_type = DiType::from((di >> 12) as u8);
        let di_len = usize::from(di & 0x0fff);
        let rest = &c[field::HOST_IDENTITY];
        // The contents are exactly these fields: a mismatch means one of
        // the three length fields lies.
        if rest.len() != hi_len + di_len {
            return Err(Error::BadParamValue { ty: Self::TYPE });
        }
        let (hi, domain) = rest.split_at(hi_len);
        Ok(HostId {
            algorithm: be16(c, field::ALGORITHM),
            host_identity: hi.to_vec(),
            di_type,
            domain_identifier: domain.to_vec(),
        })
    }

    fn contents_len(&self) -> usize {
        field::HOST_IDENTITY.start + self.host_identity.len() + self.domain_identifier.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        let hi_len = u16::try_from(self.host_identity.len()).unwrap_or(u16::MAX);
        let di_len = self.domain_identifier.len().min(MAX_DI_LEN) as u16;
        let di = (u16::from(u8::from(self.di_type)) << 12) | di_len;
        out[field::HI_LENGTH].copy_from_slice(&hi_len.to_be_bytes());
        out[field::DI].copy_from_slice(&di.to_be_bytes());
        out[field::ALGORITHM].copy_from_slice(&self.algorithm.to_be_bytes());
        let (hi, domain) = out[field::HOST_IDENTITY].split_at_mut(self.host_identity.len());
        hi.copy_from_slice(&self.host_identity);
        domain.copy_from_slice(&self.domain_identifier);
    }
}

impl HostId {
    /// Whether the value can be emitted faithfully: the Domain Identifier
    /// fits the 12-bit DI Length.
    pub fn is_encodable(&self) -> bool {
        self.domain_identifier.len() <= MAX_DI_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    /// The ECDSA P-384 HOST_ID of bex-ecdsa.pcap's R1: HI Length 99
    /// (2-octet curve ID 2 = NIST P-384, then the 97-octet point), NAI
    /// "dmitriy.kuptsov@strangebit.io" (29 octets).
    #[test]
    fn ecdsa_host_id_from_capture() {
        let point = "0443d8b2abc13f337caf109d3fd9bdc91a9c3b4837e0b8806fb914cd876f92d5186854f4d565c38b34abe21c1b1cc7a6050639b6cf0ec0907323d9f620067d1c1734735373aa40a054c9bc905e359d2535d3f590dbfcdb251901ec5df12b52cb87";
        let nai = b"dmitriy.kuptsov@strangebit.io";
        let h = HostId {
            algorithm: algorithm::ECDSA,
            host_identity: hex::decode(format!("0002{point}")).unwrap(),
            di_type: DiType::Nai,
            domain_identifier: nai.to_vec(),
        };
        let expect = format!("02c100860063201d00070002{point}{}000000000000", hex::encode(nai));
        round_trip(&h, &expect);
    }

    #[test]
    fn inconsistent_lengths_rejected() {
        // HI Length 4, DI Length 1, but 6 octets follow the Algorithm.
        assert_eq!(parse_hex::<HostId>("000420010005aabbccddeeff"), Err(Error::BadParamValue { ty: 705 }));
        assert_eq!(parse_hex::<HostId>("00042001"), Err(Error::BadParamLength { ty: 705, len: 4 }));
    }

    #[test]
    fn di_type_numbers() {
        assert_eq!(u8::from(DiType::Fqdn), 1);
        assert_eq!(DiType::from(2), DiType::Nai);
        assert_eq!(DiType::from(9), DiType::Unknown(9));
    }
}
