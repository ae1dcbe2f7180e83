//! HIPv2 (RFC 7401).

/// Cryptography: host identities, HITs, Diffie-Hellman, KEYMAT, puzzle, MACs.
pub mod crypto;
/// The packet format: header, checksum, parameters.
pub mod wire;
