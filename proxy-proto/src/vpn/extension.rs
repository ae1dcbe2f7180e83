//! Mobile IP registration extensions (RFC 5944 §3.5, §1.9): a Type-Length-
//! Value list after the fixed part of a Registration Request or Reply.

/// MN-HA Authentication Extension (RFC 5944 §3.5.2).
pub const TYPE_MN_HA_AUTH: u8 = 32;
/// MN-FA Authentication Extension (RFC 5944 §3.5.3): known, carried opaque
/// (this deployment has no foreign agent).
pub const TYPE_MN_FA_AUTH: u8 = 33;
/// FA-HA Authentication Extension (RFC 5944 §3.5.4): known, carried opaque.
pub const TYPE_FA_HA_AUTH: u8 = 34;

/// Errors of the Mobile IP registration message layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MipError {
    #[error("message shorter than its fixed part")]
    Truncated,
    #[error("message type {0} where another was expected")]
    WrongType(u8),
    #[error("extension runs past the end of the message")]
    ExtensionTruncated,
    /// RFC 5944 §3.5 (and §1.9): an unrecognised extension of type 0-127
    /// means the whole message MUST be silently discarded.
    #[error("unrecognised non-skippable extension {0}: discard the message silently")]
    UnknownNonSkippable(u8),
    #[error("MN-HA Authentication Extension shorter than its SPI")]
    BadAuthExtension,
    #[error("message longer than an extension length allows")]
    TooLong,
}

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const LENGTH: usize = 1;
    pub const DATA: usize = 2;
    /// Inside the MN-HA Authentication Extension's data.
    pub const SPI: Range<usize> = 0..4;
    pub const AUTHENTICATOR: usize = 4;
}

/// Size of the Type and Length octets.
pub const TL_LEN: usize = field::DATA;
/// Size of the SPI in the authentication extensions.
pub const SPI_LEN: usize = field::SPI.end;

/// One raw extension as found in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawExtension<'a> {
    /// Offset of the Type octet from the start of the message.
    pub offset: usize,
    pub ext_type: u8,
    pub data: &'a [u8],
}

/// Iterates over the extensions of `message` starting at `start`; yields
/// an error (and then stops) on a truncated extension.
#[derive(Debug, Clone)]
pub struct ExtensionIter<'a> {
    message: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> ExtensionIter<'a> {
    pub fn new(message: &'a [u8], start: usize) -> Self {
        Self { message, pos: start, failed: false }
    }
}

impl<'a> Iterator for ExtensionIter<'a> {
    type Item = Result<RawExtension<'a>, MipError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.message.len() {
            return None;
        }
        let rest = &self.message[self.pos..];
        let (Some(&ext_type), Some(&len)) = (rest.get(field::TYPE), rest.get(field::LENGTH)) else {
            self.failed = true;
            return Some(Err(MipError::ExtensionTruncated));
        };
        let Some(data) = rest.get(field::DATA..field::DATA + usize::from(len)) else {
            self.failed = true;
            return Some(Err(MipError::ExtensionTruncated));
        };
        let offset = self.pos;
        self.pos += field::DATA + usize::from(len);
        Some(Ok(RawExtension { offset, ext_type, data }))
    }
}

/// An owned extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    /// RFC 5944 §3.5.2: SPI and authenticator (16 bytes for the default
    /// HMAC-MD5, 32 for our HMAC-SHA-256 SPIs).
    MnHaAuth { spi: u32, authenticator: Vec<u8> },
    /// A recognised extension we do not interpret (MN-FA, FA-HA) or a
    /// skippable one (type 128-255), kept so parse/emit round-trips.
    Other { ext_type: u8, data: Vec<u8> },
}

impl Extension {
    /// Parses one raw extension, applying the §3.5 rule for unknown types.
    pub fn parse(raw: &RawExtension<'_>) -> Result<Self, MipError> {
        match raw.ext_type {
            TYPE_MN_HA_AUTH => {
                let spi = raw.data.get(field::SPI).ok_or(MipError::BadAuthExtension)?;
                Ok(Self::MnHaAuth {
                    spi: u32::from_be_bytes([spi[0], spi[1], spi[2], spi[3]]),
                    authenticator: raw.data[field::AUTHENTICATOR..].to_vec(),
                })
            }
            TYPE_MN_FA_AUTH | TYPE_FA_HA_AUTH | 128..=255 => {
                Ok(Self::Other { ext_type: raw.ext_type, data: raw.data.to_vec() })
            }
            t => Err(MipError::UnknownNonSkippable(t)),
        }
    }

    /// Bytes this extension takes on the wire.
    pub fn buffer_len(&self) -> usize {
        TL_LEN
            + match self {
                Self::MnHaAuth { authenticator, .. } => SPI_LEN + authenticator.len(),
                Self::Other { data, .. } => data.len(),
            }
    }

    /// Writes the extension at the start of `buf` (which must hold
    /// `buffer_len()` bytes); the data must fit the 8-bit Length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), MipError> {
        let len = u8::try_from(self.buffer_len() - TL_LEN).map_err(|_| MipError::TooLong)?;
        let buf = buf.get_mut(..self.buffer_len()).ok_or(MipError::Truncated)?;
        buf[field::TYPE] = match self {
            Self::MnHaAuth { .. } => TYPE_MN_HA_AUTH,
            Self::Other { ext_type, .. } => *ext_type,
        };
        buf[field::LENGTH] = len;
        let data = &mut buf[field::DATA..];
        match self {
            Self::MnHaAuth { spi, authenticator } => {
                data[field::SPI].copy_from_slice(&spi.to_be_bytes());
                data[field::AUTHENTICATOR..].copy_from_slice(authenticator);
            }
            Self::Other { data: d, .. } => data.copy_from_slice(d),
        }
        Ok(())
    }
}

/// Parses every extension from `start`, failing on the first malformed or
/// unknown non-skippable one.
pub fn parse_all(message: &[u8], start: usize) -> Result<Vec<Extension>, MipError> {
    ExtensionIter::new(message, start).map(|r| r.and_then(|raw| Extension::parse(&raw))).collect()
}

/// Emits `exts` back to back into `buf`.
pub fn emit_all(exts: &[Extension], buf: &mut [u8]) -> Result<(), MipError> {
    let mut pos = 0;
    for e in exts {
        e.emit(buf.get_mut(pos..).ok_or(MipError::Truncated)?)?;
        pos += e.buffer_len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_tlvs_and_skips_skippable() {
        // [200, len 2, aa bb] [32, len 8, spi=0x100, 4 auth bytes]
        let msg = [200, 2, 0xaa, 0xbb, 32, 8, 0, 0, 1, 0, 1, 2, 3, 4];
        let exts = parse_all(&msg, 0).unwrap();
        assert_eq!(
            exts,
            vec![
                Extension::Other { ext_type: 200, data: vec![0xaa, 0xbb] },
                Extension::MnHaAuth { spi: 0x100, authenticator: vec![1, 2, 3, 4] },
            ]
        );
        let mut out = vec![0u8; msg.len()];
        emit_all(&exts, &mut out).unwrap();
        assert_eq!(out, msg);
    }

    #[test]
    fn unknown_non_skippable_discards_message() {
        assert_eq!(parse_all(&[127, 0], 0).unwrap_err(), MipError::UnknownNonSkippable(127));
        assert_eq!(parse_all(&[0, 0], 0).unwrap_err(), MipError::UnknownNonSkippable(0));
        assert!(parse_all(&[128, 0], 0).is_ok());
    }

    #[test]
    fn truncated_extensions_rejected() {
        assert_eq!(parse_all(&[200], 0).unwrap_err(), MipError::ExtensionTruncated);
        assert_eq!(parse_all(&[200, 3, 1, 2], 0).unwrap_err(), MipError::ExtensionTruncated);
        assert_eq!(parse_all(&[32, 3, 0, 0, 1], 0).unwrap_err(), MipError::BadAuthExtension);
        let mut it = ExtensionIter::new(&[200, 9], 0);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }
}
