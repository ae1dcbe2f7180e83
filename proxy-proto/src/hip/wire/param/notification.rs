//! NOTIFICATION (RFC 7401 §5.2.19) and its Notify Message Types.
//!
//! ```text
//! |          Reserved             |      Notify Message Type      |
//! /                   Notification Data                           /
//! ```

use super::{ParamRepr, at_least, be16};
use crate::hip::wire::Error;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const NOTIFY_MESSAGE_TYPE: Range<usize> = 2..4;
    pub const DATA: RangeFrom<usize> = 4..;
}

/// Notify Message Types (RFC 7401 §5.2.19; RFC 7402 §5.1.3 adds 18 and
/// 19, RFC 8046 adds 46, RFC 8003 adds 51). Values below 16384 report
/// errors, 16384 and above status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyMessageType {
    /// 1: a critical parameter was not understood; the data is its type.
    UnsupportedCriticalParameterType,
    /// 7: some type, length or value was out of range.
    InvalidSyntax,
    /// 14: none of the offered DH groups is acceptable.
    NoDhProposalChosen,
    /// 15: the DH group chosen was not among those offered.
    InvalidDhChosen,
    /// 16: none of the offered HIP ciphers is acceptable.
    NoHipProposalChosen,
    /// 17: the HIP cipher chosen was not among those offered.
    InvalidHipCipherChosen,
    /// 18: none of the offered ESP transforms is acceptable (RFC 7402).
    NoEspProposalChosen,
    /// 19: the ESP transform chosen was not offered (RFC 7402).
    InvalidEspTransformChosen,
    /// 20: the HIT suite is not supported.
    UnsupportedHitSuite,
    /// 24: a signature did not verify.
    AuthenticationFailed,
    /// 26: the checksum did not verify.
    ChecksumFailed,
    /// 28: the HIP_MAC did not verify.
    HipMacFailed,
    /// 32: the ENCRYPTED parameter could not be decrypted.
    EncryptionFailed,
    /// 40: the HIT does not match the HI.
    InvalidHit,
    /// 42: local policy forbids the exchange.
    BlockedByPolicy,
    /// 44: the Responder is busy; retry later.
    ResponderBusyPleaseRetry,
    /// 46: a LOCATOR_SET locator type is not supported (RFC 8046).
    LocatorTypeUnsupported,
    /// 51: registration is required first (RFC 8003).
    RegRequired,
    /// 16384: an I2 was received and is being processed.
    I2Acknowledgement,
    /// Any other value.
    Unknown(u16),
}

impl From<u16> for NotifyMessageType {
    fn from(v: u16) -> Self {
        use NotifyMessageType::*;
        match v {
            1 => UnsupportedCriticalParameterType,
            7 => InvalidSyntax,
            14 => NoDhProposalChosen,
            15 => InvalidDhChosen,
            16 => NoHipProposalChosen,
            17 => InvalidHipCipherChosen,
            18 => NoEspProposalChosen,
            19 => InvalidEspTransformChosen,
            20 => UnsupportedHitSuite,
            24 => AuthenticationFailed,
            26 => ChecksumFailed,
            28 => HipMacFailed,
            32 => EncryptionFailed,
            40 => InvalidHit,
            42 => BlockedByPolicy,
            44 => ResponderBusyPleaseRetry,
            46 => LocatorTypeUnsupported,
            51 => RegRequired,
            16384 => I2Acknowledgement,
            o => Unknown(o),
        }
    }
}

impl From<NotifyMessageType> for u16 {
    fn from(t: NotifyMessageType) -> u16 {
        use NotifyMessageType::*;
        match t {
            UnsupportedCriticalParameterType => 1,
            InvalidSyntax => 7,
            NoDhProposalChosen => 14,
            InvalidDhChosen => 15,
            NoHipProposalChosen => 16,
            InvalidHipCipherChosen => 17,
            NoEspProposalChosen => 18,
            InvalidEspTransformChosen => 19,
            UnsupportedHitSuite => 20,
            AuthenticationFailed => 24,
            ChecksumFailed => 26,
            HipMacFailed => 28,
            EncryptionFailed => 32,
            InvalidHit => 40,
            BlockedByPolicy => 42,
            ResponderBusyPleaseRetry => 44,
            LocatorTypeUnsupported => 46,
            RegRequired => 51,
            I2Acknowledgement => 16384,
            Unknown(v) => v,
        }
    }
}

impl NotifyMessageType {
    /// Whether the type reports an error (values below 16384).
    pub fn is_error(self) -> bool {
        u16::from(self) < 16384
    }
}

/// NOTIFICATION (832).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// What is being notified.
    pub message_type: NotifyMessageType,
    /// Type-specific data (for UNSUPPORTED_CRITICAL_PARAMETER_TYPE, the
    /// two-octet parameter type).
    pub data: Vec<u8>,
}

impl Notification {
    /// The NOTIFICATION answering an unknown critical parameter (§5.2.1).
    pub fn unsupported_critical_parameter(ty: u16) -> Self {
        Notification {
            message_type: NotifyMessageType::UnsupportedCriticalParameterType,
            data: ty.to_be_bytes().to_vec(),
        }
    }
}

impl ParamRepr for Notification {
    const TYPE: u16 = 832;

    fn parse_contents(c: &[u8]) -> Result<Self, Error> {
        at_least(Self::TYPE, c, field::DATA.start)?;
        Ok(Notification { message_type: be16(c, field::NOTIFY_MESSAGE_TYPE).into(), data: c[field::DATA].to_vec() })
    }

    fn contents_len(&self) -> usize {
        field::DATA.start + self.data.len()
    }

    fn emit_contents(&self, out: &mut [u8]) {
        out[..field::NOTIFY_MESSAGE_TYPE.start].fill(0);
        out[field::NOTIFY_MESSAGE_TYPE].copy_from_slice(&u16::from(self.message_type).to_be_bytes());
        out[field::DATA].copy_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{parse_hex, round_trip};
    use super::*;

    #[test]
    fn unsupported_critical_parameter() {
        // Type 832, Length 6, reserved, type 1, data 0x0fa1 (4001).
        round_trip(&Notification::unsupported_critical_parameter(4001), "03400006000000010fa1000000000000");
        assert_eq!(parse_hex::<Notification>("000000"), Err(Error::BadParamLength { ty: 832, len: 3 }));
    }

    #[test]
    fn codes() {
        for v in [1u16, 7, 14, 15, 16, 17, 18, 19, 20, 24, 26, 28, 32, 40, 42, 44, 46, 51, 16384, 99] {
            assert_eq!(u16::from(NotifyMessageType::from(v)), v);
        }
        assert_eq!(NotifyMessageType::from(44), NotifyMessageType::ResponderBusyPleaseRetry);
        assert_eq!(NotifyMessageType::from(99), NotifyMessageType::Unknown(99));
        assert!(NotifyMessageType::InvalidSyntax.is_error());
        assert!(!NotifyMessageType::I2Acknowledgement.is_error());
    }
}
