//! Errors of the HIP packet layer (RFC 7401 §5).

use super::param::notification::NotifyMessageType;

/// Why a HIP packet or parameter was rejected, or could not be built.
///
/// Where RFC 7401 §5.2.19 defines a NOTIFY code for the condition,
/// [`Error::notify_type`] gives it, so the association layer can answer
/// with a NOTIFY instead of guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer cannot even hold the 40-byte fixed header (§5.1).
    #[error("buffer of {len} bytes is shorter than the 40-byte HIP header")]
    Truncated {
        /// Bytes available.
        len: usize,
    },
    /// Header Length below 4 (8-octet units past the first 8): the two HITs
    /// alone need 4 (§5.1).
    #[error("header length {hdr_len} is below the minimum of 4")]
    BadHeaderLength {
        /// The Header Length field.
        hdr_len: u8,
    },
    /// The Header Length claims more bytes than the buffer holds.
    #[error("header length claims {declared} bytes, buffer holds {available}")]
    PacketTruncated {
        /// (Header Length + 1) * 8.
        declared: usize,
        /// Bytes available.
        available: usize,
    },
    /// The fixed bits that tell HIP from SHIM6 (§5.1: bit 0 of the Packet
    /// Type octet is 0, bit 0 of the Version octet is 1) are wrong.
    #[error("HIP fixed bits are wrong (not a HIP packet)")]
    FixedBits,
    /// A version other than 2 (§5.1).
    #[error("unsupported HIP version {0}")]
    UnsupportedVersion(u8),
    /// The checksum over the pseudo-header and packet does not verify (§5.1.1).
    #[error("HIP checksum does not verify")]
    BadChecksum,
    /// Source and destination address of different families: no
    /// pseudo-header exists (§5.1.1).
    #[error("source and destination addresses are of different families")]
    AddressFamilyMismatch,
    /// A parameter's Type/Length or contents run past the parameter area.
    #[error("parameter {ty} overruns the packet")]
    ParamTruncated {
        /// Parameter type (0 when even the type did not fit).
        ty: u16,
    },
    /// The contents fit but the padding to the 8-octet boundary (§5.2.1)
    /// does not.
    #[error("padding of parameter {ty} overruns the packet")]
    PaddingTruncated {
        /// Parameter type.
        ty: u16,
    },
    /// Padding octets that are not zero. Rejected so that every accepted
    /// packet has one encoding: emit(parse(x)) == x, and a HOST_ID we
    /// re-serialise for a HIP_MAC_2 input is the one the peer sent.
    #[error("non-zero padding in parameter {ty}")]
    NonZeroPadding {
        /// Parameter type.
        ty: u16,
    },
    /// Parameters not in ascending type order (§5.2.1).
    #[error("parameter {ty} follows parameter {prev}: not in ascending order")]
    ParamOrder {
        /// Type of the preceding parameter.
        prev: u16,
        /// Type of the offending parameter.
        ty: u16,
    },
    /// A parameter with the critical bit set that this implementation does
    /// not know: the packet MUST be rejected and a NOTIFY
    /// UNSUPPORTED_CRITICAL_PARAMETER_TYPE (1) carrying the type sent
    /// (§5.2.1, §5.2.19).
    #[error("unsupported critical parameter type {ty}")]
    UnsupportedCriticalParam {
        /// The unknown critical parameter type.
        ty: u16,
    },
    /// A known parameter whose Length does not fit its layout.
    #[error("parameter {ty} has invalid length {len}")]
    BadParamLength {
        /// Parameter type.
        ty: u16,
        /// Its Length field (contents only).
        len: usize,
    },
    /// A known parameter whose inner length fields disagree with its Length.
    #[error("parameter {ty} has inconsistent inner lengths")]
    BadParamValue {
        /// Parameter type.
        ty: u16,
    },
    /// The packet would exceed the 2048 bytes a Header Length can describe.
    #[error("HIP packet of {len} bytes exceeds the 2048-byte maximum")]
    PacketTooLong {
        /// Bytes the packet would need.
        len: usize,
    },
    /// The packet has no parameter of the type a MAC or signature input was
    /// asked for.
    #[error("packet has no parameter of type {ty}")]
    ParamNotFound {
        /// The missing type.
        ty: u16,
    },
}

impl Error {
    /// The NOTIFY message type RFC 7401 §5.2.19 assigns to this condition,
    /// if any. UNSUPPORTED_CRITICAL_PARAMETER_TYPE carries the parameter
    /// type as its Notification Data; the malformed-packet cases map to
    /// INVALID_SYNTAX, which §5.2.19 allows only after the packet's MAC and
    /// signature verified.
    pub fn notify_type(&self) -> Option<NotifyMessageType> {
        match self {
            Error::UnsupportedCriticalParam { .. } => Some(NotifyMessageType::UnsupportedCriticalParameterType),
            Error::BadChecksum => Some(NotifyMessageType::ChecksumFailed),
            Error::ParamTruncated { .. }
            | Error::PaddingTruncated { .. }
            | Error::NonZeroPadding { .. }
            | Error::ParamOrder { .. }
            | Error::BadParamLength { .. }
            | Error::BadParamValue { .. } => Some(NotifyMessageType::InvalidSyntax),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NOTIFY codes RFC 7401 §5.2.19 assigns: 1 for an unknown
    /// critical parameter, 7 for malformed contents, 26 for the checksum;
    /// none where no NOTIFY is to be sent.
    #[test]
    fn notify_codes() {
        let code = |e: Error| e.notify_type().map(u16::from);
        assert_eq!(code(Error::UnsupportedCriticalParam { ty: 4001 }), Some(1));
        assert_eq!(code(Error::BadParamLength { ty: 65, len: 3 }), Some(7));
        assert_eq!(code(Error::ParamOrder { prev: 513, ty: 511 }), Some(7));
        assert_eq!(code(Error::BadChecksum), Some(26));
        assert_eq!(code(Error::Truncated { len: 3 }), None);
        assert_eq!(code(Error::UnsupportedVersion(1)), None);
    }
}
