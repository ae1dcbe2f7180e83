//! ESP parameters of HIP: ESP_INFO (RFC 7402 §5.1.1) and ESP_TRANSFORM
//! (RFC 7402 §5.1.2).

use super::{ParamRepr, at_least, be16, be32, emit_u16_list, exact, u16_list};
use crate::hip::wire::Error;

mod info_field {
    use core::ops::Range;
    pub const KEYMAT_INDEX: Range<usize> = 2..4;
    pub const OLD_SPI: Range<usize> = 4..8;
    pub const NEW_SPI: Range<usize> = 8..12;
    pub const LEN: usize = 12;
}

/// ESP_INFO (65): the SPIs and KEYMAT index of an ESP SA (RFC 7402 §5.1.1).
///
/// ```text
/// |           Reserved            |         KEYMAT Index          |
/// |                            OLD SPI                            |
/// |                            NEW SPI                            |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspInfo {
    /// Index of the first KEYMAT octet the ESP keys are drawn from.
    pub keymat_index: u16,
    /// The SPI being replaced (0 in the base exchange).
    pub old_spi: u32,
    /// The SPI the sender wants to receive on (0 when removing an SA).
    pub new_spi: u32,
}

impl ParamRepr for EspInfo {
    const TYPE: u16 = 65;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        let c = exact::<{ info_field::LEN }>(Self::TYPE, c)?;
        Ok(EspInfo {
            keymat_index: be16(&c, info_field::KEYMAT_INDEX),
            old_spi: be32(&c, info_field::OLD_SPI),
            new_spi: be32(&c, info_field::NEW_SPI),
        })
    }

    fn contents_len(&self) -> usize {
        info_field::LEN
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out[..info_field::KEYMAT_INDEX.start].fill(0);
        out[info_field::KEYMAT_INDEX].copy_from_slice(&self.keymat_index.to_be_bytes());
        out[info_field::OLD_SPI].copy_from_slice(&self.old_spi.to_be_bytes());
        out[info_field::NEW_SPI].copy_from_slice(&self.new_spi.to_be_bytes());
    }
}

mod transform_field {
    use core::ops::RangeFrom;
    pub const RESERVED_LEN: usize = 2;
    pub const SUITES: RangeFrom<usize> = 2..;
}

/// ESP_TRANSFORM (4095): ESP Suite IDs, most preferred first (RFC 7402
/// §5.1.2; IANA "ESP Transform Suite IDs").
///
/// ```text
/// |          Reserved             |           Suite ID #1         |
/// |          Suite ID #2          |           Suite ID #3         |
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EspTransform {
    /// Suite IDs in preference order.
    pub suites: Vec<u16>,
}

impl ParamRepr for EspTransform {
    const TYPE: u16 = 4095;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        at_least(Self::TYPE, c, transform_field::RESERVED_LEN)?;
        let suites = u16_list(Self::TYPE, &c[transform_field::SUITES])
            .map_err(|_| Error::BadParamLength { ty: Self::TYPE, len: c.len() })?;
        Ok(EspTransform { suites })
    }

    fn contents_len(&self) -> usize {
        transform_field::RESERVED_LEN + self.suites.len() * 2
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out[..transform_field::RESERVED_LEN].fill(0);
        emit_u16_list(&self.suites, &mut out[transform_field::SUITES]);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    /// I2's ESP_INFO in bex.pcap (frame 3; tshark: index 0x0080, new SPI
    /// 0xdcd59095).
    #[test]
    fn esp_info_from_capture() {
        let e = EspInfo { keymat_index: 0x80, old_spi: 0, new_spi: 0xdcd5_9095 };
        round_trip(&e, "0041000c0000008000000000dcd59095");
        assert_eq!(parse_hex::<EspInfo>("00000080"), Err(Error::BadParamLength { ty: 65, len: 4 }));
    }

    /// R1's ESP_TRANSFORM in the capture: suites 9, 8, 7.
    #[test]
    fn esp_transform_from_capture() {
        round_trip(&EspTransform { suites: vec![9, 8, 7] }, "0fff0008000000090008000700000000");
        assert_eq!(parse_hex::<EspTransform>("000000"), Err(Error::BadParamLength { ty: 4095, len: 3 }));
        assert_eq!(parse_hex::<EspTransform>("00"), Err(Error::BadParamLength { ty: 4095, len: 1 }));
    }
}
