//! Errors of the HIP cryptography layer.
//!
//! Where RFC 7401 defines a NOTIFY code for a failure (Section 5.2.19), the
//! variant documents it; `notify_code` returns it for the state machine.

use thiserror::Error;

/// A failure of a HIP cryptographic operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// A HOST_ID Host Identity field is truncated or inconsistent.
    #[error("malformed host identity")]
    MalformedHostId,
    /// The HI algorithm (RFC 7401 Section 5.2.9) is not one we implement.
    #[error("unsupported host identity algorithm {0}")]
    UnsupportedHiAlgorithm(u16),
    /// The ECC curve (or EdDSA curve) ID of a HOST_ID is not one we implement.
    #[error("unsupported curve {0}")]
    UnsupportedCurve(u16),
    /// The HIT Suite ID (RFC 7401 Section 5.2.10) is not one we implement.
    #[error("unsupported HIT suite {0}")]
    UnsupportedHitSuite(u8),
    /// An RAA or HDA of a Hierarchical HIT does not fit its 14 bits (RFC 9374 Section 3.3).
    #[error("RAA and HDA are 14-bit values (0..=16383)")]
    InvalidHierarchyId,
    /// A key (PEM, PKCS#8, SPKI or wire encoding) was rejected.
    #[error("key rejected")]
    KeyRejected,
    /// A PEM document could not be decoded or has an unexpected label.
    #[error("malformed PEM document")]
    MalformedPem,
    /// Key generation failed in the crypto library.
    #[error("key generation failed")]
    KeyGeneration,
    /// Signing failed in the crypto library.
    #[error("signing failed")]
    SigningFailed,
    /// HIP_SIGNATURE verification failed (NOTIFY AUTHENTICATION_FAILED, 24).
    #[error("signature verification failed")]
    BadSignature,
    /// HIP_MAC verification failed (NOTIFY AUTHENTICATION_FAILED, 24).
    #[error("HMAC verification failed")]
    BadMac,
    /// The DH Group ID is not one we implement (NOTIFY NO_DH_PROPOSAL_CHOSEN, 14).
    #[error("unsupported Diffie-Hellman group {0}")]
    UnsupportedDhGroup(u8),
    /// No group of the peer's DH_GROUP_LIST is acceptable (NOTIFY NO_DH_PROPOSAL_CHOSEN, 14).
    #[error("no acceptable Diffie-Hellman group")]
    NoDhProposalChosen,
    /// The peer's DH public value is malformed or out of range
    /// (NOTIFY INVALID_DH_CHOSEN, 15).
    #[error("invalid Diffie-Hellman public value")]
    InvalidDhPublicValue,
    /// The puzzle solution does not verify; RFC 7401 Section 6.10 drops the I2.
    #[error("puzzle solution does not verify")]
    BadPuzzleSolution,
    /// The puzzle was not solved within the attempt bound.
    #[error("puzzle not solved after {0} attempts")]
    PuzzleNotSolved(u64),
    /// The puzzle difficulty K exceeds the RHASH length, or I/J have the wrong length.
    #[error("invalid puzzle parameters")]
    InvalidPuzzle,
    /// The HIP_CIPHER Suite ID is not one we implement (NOTIFY NO_HIP_PROPOSAL_CHOSEN, 16).
    #[error("unsupported HIP cipher {0}")]
    UnsupportedCipher(u16),
    /// The ENCRYPTED parameter's data has a bad length or padding.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The KEYMAT cannot supply more keys (RFC 7401 Section 6.5 allows 255 blocks).
    #[error("KEYMAT exhausted")]
    KeymatExhausted,
}

impl CryptoError {
    /// The NOTIFY Message Type of RFC 7401 Section 5.2.19 this error maps to, if any.
    pub fn notify_code(&self) -> Option<u16> {
        match self {
            CryptoError::BadSignature | CryptoError::BadMac => Some(24),
            CryptoError::UnsupportedDhGroup(_) | CryptoError::NoDhProposalChosen => Some(14),
            CryptoError::InvalidDhPublicValue => Some(15),
            CryptoError::UnsupportedCipher(_) => Some(16),
            _ => None,
        }
    }
}
