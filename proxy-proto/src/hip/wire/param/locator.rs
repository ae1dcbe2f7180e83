//! LOCATOR_SET (RFC 8046 §4): the addresses (and SPIs) a host can be
//! reached at, for mobility and multihoming.
//!
//! Each locator:
//!
//! ```text
//! | Traffic Type  | Locator Type  | Locator Length|  Reserved   |P|
//! |                       Locator Lifetime                        |
//! |                            Locator                            |
//! ```
//!
//! Locator Length counts the Locator in 4-octet words.

use core::net::Ipv6Addr;

use super::{ParamRepr, be32};
use crate::hip::wire::Error;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const TRAFFIC_TYPE: usize = 0;
    pub const LOCATOR_TYPE: usize = 1;
    pub const LOCATOR_LENGTH: usize = 2;
    /// 7 reserved bits, then P.
    pub const FLAGS: usize = 3;
    pub const LIFETIME: Range<usize> = 4..8;
    /// Octets before the Locator.
    pub const HEADER_LEN: usize = 8;
    /// Within a type 1 Locator: the ESP SPI, then the address.
    pub const ESP_SPI: Range<usize> = 0..4;
    pub const ESP_SPI_ADDRESS: RangeFrom<usize> = 4..;
}

/// The P(referred) bit.
const PREFERRED: u8 = 0x01;

/// Locator Type 0: an IPv6 address or IPv4-in-IPv6 (::ffff:a.b.c.d).
pub const LOCATOR_TYPE_ADDRESS: u8 = 0;
/// Locator Type 1: an ESP SPI followed by an address as in type 0.
pub const LOCATOR_TYPE_ESP_SPI: u8 = 1;

/// What traffic a locator is for (RFC 8046 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrafficType {
    /// 0: HIP signaling and data.
    Both,
    /// 1: HIP signaling only.
    Signaling,
    /// 2: data only.
    Data,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for TrafficType {
    fn from(v: u8) -> Self {
        match v {
            0 => TrafficType::Both,
            1 => TrafficType::Signaling,
            2 => TrafficType::Data,
            o => TrafficType::Unknown(o),
        }
    }
}

impl From<TrafficType> for u8 {
    fn from(t: TrafficType) -> u8 {
        match t {
            TrafficType::Both => 0,
            TrafficType::Signaling => 1,
            TrafficType::Data => 2,
            TrafficType::Unknown(v) => v,
        }
    }
}

/// The Locator field, by Locator Type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LocatorValue {
    /// Type 0, length 4 words: an address (IPv4 as IPv4-mapped IPv6).
    Address(Ipv6Addr),
    /// Type 1, length 5 words: ESP SPI and address.
    EspSpiAddress {
        /// The SPI the peer should use towards this address.
        spi: u32,
        /// The address.
        address: Ipv6Addr,
    },
    /// Any other type or length, kept as is.
    Other {
        /// Locator Type.
        locator_type: u8,
        /// The Locator octets (a multiple of 4 long).
        bytes: Vec<u8>,
    },
}

impl LocatorValue {
    fn locator_type(&self) -> u8 {
        match self {
            LocatorValue::Address(_) => LOCATOR_TYPE_ADDRESS,
            LocatorValue::EspSpiAddress { .. } => LOCATOR_TYPE_ESP_SPI,
            LocatorValue::Other { locator_type, .. } => *locator_type,
        }
    }

    fn len(&self) -> usize {
        match self {
            LocatorValue::Address(_) => 16,
            LocatorValue::EspSpiAddress { .. } => 20,
            LocatorValue::Other { bytes, .. } => bytes.len(),
        }
    }

    fn parse(locator_type: u8, b: &[u8]) -> Self {
        let addr = |o: &[u8]| {
            let mut a = [0u8; 16];
            a.copy_from_slice(o);
            Ipv6Addr::from(a)
        };
        match (locator_type, b.len()) {
            (LOCATOR_TYPE_ADDRESS, 16) => LocatorValue::Address(addr(b)),
            (LOCATOR_TYPE_ESP_SPI, 20) => {
                LocatorValue::EspSpiAddress { spi: be32(b, field::ESP_SPI), address: addr(&b[field::ESP_SPI_ADDRESS]) }
            }
            _ => LocatorValue::Other { locator_type, bytes: b.to_vec() },
        }
    }

    fn emit(&self, out: &mut [u8]) {
        match self {
            LocatorValue::Address(a) => out.copy_from_slice(&a.octets()),
            LocatorValue::EspSpiAddress { spi, address } => {
                out[field::ESP_SPI].copy_from_slice(&spi.to_be_bytes());
                out[field::ESP_SPI_ADDRESS].copy_from_slice(&address.octets());
            }
            LocatorValue::Other { bytes, .. } => out.copy_from_slice(bytes),
        }
    }
}

/// One locator of a LOCATOR_SET.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Locator {
    /// What traffic this locator is for.
    pub traffic_type: TrafficType,
    /// Whether this is the preferred locator (the P bit).
    pub preferred: bool,
    /// Lifetime in seconds.
    pub lifetime: u32,
    /// The locator itself.
    pub value: LocatorValue,
}

/// LOCATOR_SET (193).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocatorSet {
    /// The locators, in the order sent.
    pub locators: Vec<Locator>,
}

impl ParamRepr for LocatorSet {
    const TYPE: u16 = 193;

    fn parse_contents(mut c: &[u8]) -> Result<Self, Error> {
        let bad = |c: &[u8]| Error::BadParamLength { ty: Self::TYPE, len: c.len() };
        let total = c;
        let mut locators = Vec::new();
        while !c.is_empty() {
            let Some(h) = c.get(..field::HEADER_LEN) else {
                return Err(bad(total));
            };
            let len = usize::from(h[field::LOCATOR_LENGTH]) * 4;
            let Some(value) = c.get(field::HEADER_LEN..field::HEADER_LEN + len) else {
                return Err(bad(total));
            };
            locators.push(Locator {
                traffic_type: h[field::TRAFFIC_TYPE].into(),
                // Reserved bits: ignored when received.
                preferred: h[field::FLAGS] & PREFERRED != 0,
                lifetime: be32(h, field::LIFETIME),
                value: LocatorValue::parse(h[field::LOCATOR_TYPE], value),
            });
            c = &c[field::HEADER_LEN + len..];
        }
        Ok(LocatorSet { locators })
    }

    fn contents_len(&self) -> usize {
        self.locators.iter().map(|l| field::HEADER_LEN + l.value.len()).sum()
    }

    fn emit_contents(&self, mut out: &mut [u8]) {
        for l in &self.locators {
            let len = l.value.len();
            let (h, rest) = out.split_at_mut(field::HEADER_LEN);
            h[field::TRAFFIC_TYPE] = l.traffic_type.into();
            h[field::LOCATOR_TYPE] = l.value.locator_type();
            // Other locators are kept in whole words; a length beyond 255
            // words cannot occur inside a 2048-octet packet.
            h[field::LOCATOR_LENGTH] = u8::try_from(len / 4).unwrap_or(u8::MAX);
            h[field::FLAGS] = if l.preferred { PREFERRED } else { 0 };
            h[field::LIFETIME].copy_from_slice(&l.lifetime.to_be_bytes());
            let (v, rest) = rest.split_at_mut(len);
            l.value.emit(v);
            out = rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    #[test]
    fn locator_set_round_trip() {
        let set = LocatorSet {
            locators: vec![
                Locator {
                    traffic_type: TrafficType::Both,
                    preferred: true,
                    lifetime: 120,
                    value: LocatorValue::EspSpiAddress {
                        spi: 0x1234_5678,
                        address: "::ffff:10.77.0.9".parse().unwrap(),
                    },
                },
                Locator {
                    traffic_type: TrafficType::Data,
                    preferred: false,
                    lifetime: 60,
                    value: LocatorValue::Address("2001:db8::1".parse().unwrap()),
                },
            ],
        };
        let expect = concat!(
            "00c10034",
            "00010501",
            "00000078",
            "12345678",
            "00000000000000000000ffff0a4d0009",
            "02000400",
            "0000003c",
            "20010db8000000000000000000000001",
        );
        round_trip(&set, expect);
    }

    #[test]
    fn malformed_locators() {
        // Locator Length 4 words but only 8 octets of locator.
        assert_eq!(
            parse_hex::<LocatorSet>("00000400000000780000000000000000"),
            Err(Error::BadParamLength { ty: 193, len: 16 })
        );
        // A dangling partial header.
        assert_eq!(parse_hex::<LocatorSet>("000004"), Err(Error::BadParamLength { ty: 193, len: 3 }));
        // An unknown type is kept.
        let s = parse_hex::<LocatorSet>("0007010000000001aabbccdd").unwrap();
        assert_eq!(s.locators[0].value, LocatorValue::Other { locator_type: 7, bytes: vec![0xaa, 0xbb, 0xcc, 0xdd] });
        assert_eq!(s.locators[0].traffic_type, TrafficType::Both);
    }
}
