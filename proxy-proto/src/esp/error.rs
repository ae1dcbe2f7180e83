//! Error types of the ESP layer, one enum per direction.

/// Why an inbound ESP packet was dropped. Each variant has its own drop
/// counter in [`crate::esp::sa::InboundCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// Shorter than header + IV + trailer + ICV, or the ciphertext is not a
    /// whole number of cipher blocks (RFC 4303 §2.4).
    #[error("ESP packet too short or misaligned")]
    Truncated,
    /// The SPI is not the one of this SA (RFC 4303 §3.4.2).
    #[error("ESP packet for SPI {0:#010x} reached the wrong SA")]
    WrongSpi(u32),
    /// Sequence number zero, left of the window, or already seen
    /// (RFC 4303 §3.4.3).
    #[error("ESP sequence number {0} replayed or too old")]
    Replay(u32),
    /// Integrity check failed (RFC 4303 §3.4.4): the packet is not from the
    /// peer, or was modified on the way.
    #[error("ESP integrity check failed")]
    BadIcv,
    /// The pad length points outside the payload, or the padding is not the
    /// default 1, 2, 3, ... sequence (RFC 4303 §2.4: the receiver SHOULD
    /// inspect it).
    #[error("ESP padding malformed")]
    BadPadding,
    /// A next header value the SA's mode does not carry (RFC 7402 §3 for
    /// BEET; tunnel mode carries only IPv4 and IPv6).
    #[error("ESP next header {0} not accepted by this SA's mode")]
    UnknownNextHeader(u8),
    /// A dummy packet (next header 59, RFC 4303 §2.6), which the receiver
    /// MUST discard.
    #[error("ESP dummy packet")]
    Dummy,
}

/// Why an outbound packet could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The sequence number would wrap: the SA must be rekeyed (RFC 4303
    /// §3.3.3, the counter MUST NOT cycle).
    #[error("ESP sequence number space exhausted: rekey the SA")]
    SequenceExhausted,
    /// The caller's buffer lacks room for header, trailer or ICV.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes the sealed packet needs.
        needed: usize,
        /// Bytes the caller gave.
        available: usize,
    },
    /// The crypto library failed on a correctly laid out packet.
    #[error("the crypto library failed to seal")]
    Crypto,
}

/// Key material of the wrong shape for a transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// RFC 7402 §7 fixes how many KEYMAT bytes each transform draws.
    #[error("transform needs {expected} key bytes, got {got}")]
    WrongLength {
        /// What [`crate::esp::Transform::key_len`] says.
        expected: usize,
        /// What the caller gave.
        got: usize,
    },
    /// The ICV length asked for is not one the transform can produce.
    #[error("ICV length {0} not supported by this transform")]
    IcvLength(usize),
    /// aws-lc-rs refused the key.
    #[error("the crypto library rejected the key")]
    Rejected,
}
