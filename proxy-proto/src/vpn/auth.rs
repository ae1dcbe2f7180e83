//! The MN-HA authenticator (RFC 5944 §3.5.1, §3.5.2, §5.1).
//!
//! §5.1: the default algorithm is HMAC-MD5 (RFC 2104) with a 128-bit
//! authenticator, computed over the UDP payload (the fixed part of the
//! Registration Request or Reply), all prior extensions in their entirety,
//! and the Type, Length and SPI of the MN-HA Authentication Extension
//! itself; neither the Authenticator field nor the UDP header is covered.
//!
//! Our extension: keys whose SPI is in [`HMAC_SHA256_SPI_RANGE`] use
//! HMAC-SHA-256 with the full 256-bit authenticator over the same bytes.
//! RFC 5944 lets each mobility security association pick its algorithm by
//! SPI; the distinct range makes the choice visible on the wire and stops
//! a downgrade by SPI re-labelling (a key is bound to one algorithm).

use core::ops::RangeInclusive;

use hmac::{Hmac, Mac};
use md5::Md5;

use super::extension::{ExtensionIter, MipError, SPI_LEN, TL_LEN, TYPE_MN_HA_AUTH};

/// SPIs 0-255 are reserved (RFC 5944 §1.6 "Security Parameter Index",
/// IANA "Mobile IP Reserved SPIs"); a configured key may not use them.
pub const RESERVED_SPIS: RangeInclusive<u32> = 0..=255;

/// Our extension: SPIs of HMAC-SHA-256 mobility security associations.
pub const HMAC_SHA256_SPI_RANGE: RangeInclusive<u32> = 0x8000_0000..=0xffff_ffff;

/// The authentication algorithm of a mobility security association.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthAlgorithm {
    /// RFC 5944 §5.1 default: HMAC-MD5, 16-byte authenticator.
    HmacMd5,
    /// Our extension: HMAC-SHA-256, 32-byte authenticator.
    HmacSha256,
}

impl AuthAlgorithm {
    /// Authenticator length in bytes.
    pub const fn authenticator_len(self) -> usize {
        match self {
            Self::HmacMd5 => 16,
            Self::HmacSha256 => 32,
        }
    }
}

/// Errors of the authenticator layer. A verification failure maps to Reply
/// code 131 at the home agent (RFC 5944 §3.8.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("SPI {0:#x} is reserved or outside its algorithm's range")]
    SpiOutOfRange(u32),
    #[error("message: {0}")]
    Wire(#[from] MipError),
    #[error("no MN-HA Authentication Extension")]
    NoMnHaExtension,
    #[error("MN-HA extension SPI {found:#x}, expected {expected:#x}")]
    SpiMismatch { expected: u32, found: u32 },
    #[error("authenticator length does not fit the algorithm")]
    BadLength,
    #[error("authenticator mismatch")]
    Mismatch,
}

/// A mobility security association between MN and HA (RFC 5944 §1.6): SPI,
/// algorithm, shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct MnHaKey {
    spi: u32,
    algorithm: AuthAlgorithm,
    secret: Vec<u8>,
}

impl core::fmt::Debug for MnHaKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.debug_struct("MnHaKey").field("spi", &self.spi).field("algorithm", &self.algorithm).finish()
    }
}

impl MnHaKey {
    /// A key; the SPI must not be reserved and must lie in the algorithm's
    /// range (HMAC-SHA-256 inside [`HMAC_SHA256_SPI_RANGE`], HMAC-MD5 outside).
    pub fn new(spi: u32, algorithm: AuthAlgorithm, secret: &[u8]) -> Result<Self, AuthError> {
        let sha_range = HMAC_SHA256_SPI_RANGE.contains(&spi);
        let ok = !RESERVED_SPIS.contains(&spi) && (sha_range == (algorithm == AuthAlgorithm::HmacSha256));
        if !ok {
            return Err(AuthError::SpiOutOfRange(spi));
        }
        Ok(Self { spi, algorithm, secret: secret.to_vec() })
    }
    pub fn spi(&self) -> u32 {
        self.spi
    }
    pub fn algorithm(&self) -> AuthAlgorithm {
        self.algorithm
    }
}

/// The authenticator of `data` under `secret` with `algorithm`.
pub fn authenticator(algorithm: AuthAlgorithm, secret: &[u8], data: &[u8]) -> Vec<u8> {
    match algorithm {
        AuthAlgorithm::HmacMd5 => {
            // HMAC accepts keys of any length (RFC 2104 §2), so this cannot fail.
            let mut mac = <Hmac<Md5> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        AuthAlgorithm::HmacSha256 => {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
            aws_lc_rs::hmac::sign(&key, data).as_ref().to_vec()
        }
    }
}

/// Where the MN-HA extension of a message is: the covered prefix length
/// and the authenticator's byte range.
struct Located {
    covered: usize,
    spi: u32,
    auth: core::ops::Range<usize>,
}

fn locate(message: &[u8], fixed_len: usize) -> Result<Located, AuthError> {
    for raw in ExtensionIter::new(message, fixed_len) {
        let raw = raw?;
        if raw.ext_type == TYPE_MN_HA_AUTH {
            let spi = raw.data.get(..SPI_LEN).ok_or(MipError::BadAuthExtension)?;
            let covered = raw.offset + TL_LEN + SPI_LEN;
            return Ok(Located {
                covered,
                spi: u32::from_be_bytes([spi[0], spi[1], spi[2], spi[3]]),
                auth: covered..raw.offset + TL_LEN + raw.data.len(),
            });
        }
    }
    Err(AuthError::NoMnHaExtension)
}

/// Fills the authenticator of the (first) MN-HA extension of `message`,
/// whose fixed part is `fixed_len` bytes. The extension must carry the
/// key's SPI and room for exactly the algorithm's authenticator.
pub fn sign(message: &mut [u8], fixed_len: usize, key: &MnHaKey) -> Result<(), AuthError> {
    let loc = locate(message, fixed_len)?;
    if loc.spi != key.spi {
        return Err(AuthError::SpiMismatch { expected: key.spi, found: loc.spi });
    }
    if loc.auth.len() != key.algorithm.authenticator_len() {
        return Err(AuthError::BadLength);
    }
    let a = authenticator(key.algorithm, &key.secret, &message[..loc.covered]);
    message[loc.auth].copy_from_slice(&a);
    Ok(())
}

/// The SPI of the MN-HA extension of `message`, to select the key.
pub fn mn_ha_spi(message: &[u8], fixed_len: usize) -> Result<u32, AuthError> {
    locate(message, fixed_len).map(|l| l.spi)
}

/// Verifies the MN-HA authenticator of `message` in constant time.
pub fn verify(message: &[u8], fixed_len: usize, key: &MnHaKey) -> Result<(), AuthError> {
    let loc = locate(message, fixed_len)?;
    if loc.spi != key.spi {
        return Err(AuthError::SpiMismatch { expected: key.spi, found: loc.spi });
    }
    if loc.auth.len() != key.algorithm.authenticator_len() {
        return Err(AuthError::BadLength);
    }
    let (covered, tag) = (&message[..loc.covered], &message[loc.auth]);
    match key.algorithm {
        AuthAlgorithm::HmacMd5 => {
            let mut mac = <Hmac<Md5> as Mac>::new_from_slice(&key.secret).expect("HMAC takes any key length");
            mac.update(covered);
            mac.verify_slice(tag).map_err(|_| AuthError::Mismatch)
        }
        AuthAlgorithm::HmacSha256 => {
            let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key.secret);
            aws_lc_rs::hmac::verify(&k, covered, tag).map_err(|_| AuthError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5(key: &[u8], data: &[u8]) -> String {
        hex::encode(authenticator(AuthAlgorithm::HmacMd5, key, data))
    }

    /// RFC 2202 §2, HMAC-MD5 test cases 1, 2, 3, 6 and 7.
    #[test]
    fn hmac_md5_rfc2202_vectors() {
        assert_eq!(md5(&[0x0b; 16], b"Hi There"), "9294727a3638bb1c13f48ef8158bfc9d");
        assert_eq!(md5(b"Jefe", b"what do ya want for nothing?"), "750c783e6ab0b503eaa86e310a5db738");
        assert_eq!(md5(&[0xaa; 16], &[0xdd; 50]), "56be34521d144c88dbb8c733f0e8b3f6");
        assert_eq!(
            md5(&[0xaa; 80], b"Test Using Larger Than Block-Size Key - Hash Key First"),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"
        );
        assert_eq!(
            md5(&[0xaa; 80], b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
            "6f630fad67cda0ee1fb1f562db3aa53e"
        );
    }

    /// RFC 4231 §4.3, HMAC-SHA-256 test case 2.
    #[test]
    fn hmac_sha256_rfc4231_vector() {
        assert_eq!(
            hex::encode(authenticator(AuthAlgorithm::HmacSha256, b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn key_spi_ranges_enforced() {
        assert_eq!(MnHaKey::new(255, AuthAlgorithm::HmacMd5, b"k").unwrap_err(), AuthError::SpiOutOfRange(255));
        assert!(MnHaKey::new(256, AuthAlgorithm::HmacMd5, b"k").is_ok());
        assert!(MnHaKey::new(0x8000_0000, AuthAlgorithm::HmacMd5, b"k").is_err());
        assert!(MnHaKey::new(0x1000, AuthAlgorithm::HmacSha256, b"k").is_err());
        assert!(MnHaKey::new(0x8000_0001, AuthAlgorithm::HmacSha256, b"k").is_ok());
    }

    #[test]
    fn coverage_is_prefix_through_spi() {
        // 4-byte stand-in fixed part, a skippable extension, then MN-HA.
        let key = MnHaKey::new(0x1234, AuthAlgorithm::HmacMd5, b"secret").unwrap();
        let mut msg = vec![1, 2, 3, 4, 200, 1, 9, 32, 20, 0, 0, 0x12, 0x34];
        msg.extend_from_slice(&[0; 16]);
        sign(&mut msg, 4, &key).unwrap();
        let expect = authenticator(AuthAlgorithm::HmacMd5, b"secret", &msg[..13]);
        assert_eq!(&msg[13..], &expect[..]);
        verify(&msg, 4, &key).unwrap();
        // Any covered byte changed (including the SPI) breaks it.
        for i in [0usize, 6, 8, 12] {
            let mut t = msg.clone();
            t[i] ^= 0x01;
            assert!(verify(&t, 4, &key).is_err(), "byte {i}");
        }
        let mut t = msg.clone();
        t[20] ^= 0x80;
        assert_eq!(verify(&t, 4, &key).unwrap_err(), AuthError::Mismatch);
        assert_eq!(verify(&msg[..4], 4, &key).unwrap_err(), AuthError::NoMnHaExtension);
    }
}
