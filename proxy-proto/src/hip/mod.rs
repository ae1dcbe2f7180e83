//! HIPv2 (RFC 7401).

/// Associations: the base exchange state machine (RFC 7401 §4.4), sans-IO.
pub mod assoc;
/// Cryptography: host identities, HITs, Diffie-Hellman, KEYMAT, puzzle, MACs.
pub mod crypto;
/// The packet format: header, checksum, parameters.
pub mod wire;
