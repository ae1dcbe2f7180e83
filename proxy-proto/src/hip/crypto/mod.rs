//! The cryptography of HIPv2 (RFC 7401), sans-IO: byte slices and small typed
//! values in, byte vectors and typed errors out. Randomness the protocol
//! depends on (DH private values, puzzle J start, ENCRYPTED IVs) comes in
//! through `&mut dyn FnMut(&mut [u8])` so that tests inject fixed values.
//!
//! - [`HostIdentity`] / [`HostIdPublic`]: keys, PEM, HOST_ID encoding, signatures.
//! - [`Hit`]: ORCHIDv2 HITs (RFC 7343).
//! - [`HitSuite`]: RHASH and HMAC per HIT suite.
//! - [`DhKeyPair`], [`DhGroupPreference`]: Diffie-Hellman and group negotiation.
//! - [`puzzle`]: solve and verify the cookie puzzle.
//! - [`Keymat`], [`HipKeys`], [`EspKeyPair`]: KEYMAT and its draw order.
//! - [`HipCipher`]: ENCRYPTED parameter contents.
//! - [`mac`]: HIP_MAC computation and verification.

mod cipher;
mod der;
mod dh;
mod error;
mod hit;
mod host_id;
mod identity;
mod keccak;
mod keymat;
pub mod mac;
mod modp;
mod modp_primes;
pub mod puzzle;
mod suite;

pub use cipher::HipCipher;
pub use dh::{DhGroupId, DhGroupPreference, DhKeyPair};
pub use error::CryptoError;
pub use hit::{HHIT_CONTEXT_ID, HIT_CONTEXT_ID, Hit};
pub use host_id::{EDDSA_CURVE_ED25519, EcdsaCurve, HiAlgorithm, HostIdPublic, RsaPadding};
pub use identity::{HostIdKind, HostIdentity};
pub use keymat::{EspKeyPair, EspKeys, HipKeys, KeyPairHalf, Keymat};
pub use puzzle::PuzzleSolution;
pub use suite::{HitSuite, Rhash};

#[cfg(test)]
mod eddsa_tests;
#[cfg(test)]
mod tests;
