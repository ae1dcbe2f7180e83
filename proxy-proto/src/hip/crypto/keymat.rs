//! HIP keying material (RFC 7401 Section 6.5):
//! KEYMAT = HKDF with RHASH, salt I | J, IKM Kij, info sort(HIT-I | HIT-R);
//! keys are drawn from it in a fixed order, first the HIP keys, then the ESP
//! keys (RFC 7402 Section 7).

use aws_lc_rs::hkdf;
use zeroize::Zeroizing;

use super::keccak::KmacKdf;
use super::{CryptoError, HipCipher, Hit, HitSuite};

/// The HKDF pseudo-random key: HMAC-based (aws-lc) for the SHA suites,
/// KMAC128-based for EdDSA/cSHAKE128 (RFC 9374 Table 7).
enum Prk {
    Hmac(hkdf::Prk),
    Kmac(KmacKdf),
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// The KEYMAT of one association, with the index of the next unused octet.
///
/// HKDF-Expand output of length n is a prefix of the output of any
/// greater length, so the KEYMAT is expanded lazily: enough for the base
/// exchange at first, more (from the kept PRK) when a draw needs it. The
/// full 255-block KEYMAT costs 255 HMACs, about half of a base exchange's
/// crypto, and is almost never used.
pub struct Keymat {
    prk: Prk,
    info: [u8; 32],
    /// Octets expanded so far; the KEYMAT's first `okm.len()` octets.
    okm: Zeroizing<Vec<u8>>,
    /// 255 RHASH blocks (RFC 5869 §2.3).
    max_len: usize,
    index: usize,
}

/// RHASH blocks expanded up front: the HIP keys and one pair of ESP keys
/// of any suite fit (at most 2 x (32 + 48) + 2 x (32 + 32) = 288 octets).
const INITIAL_BLOCKS: usize = 8;

impl core::fmt::Debug for Keymat {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Keymat").field("index", &self.index).finish_non_exhaustive()
    }
}

impl Keymat {
    /// Derives the KEYMAT from the DH shared secret `kij`, the two HITs (in
    /// any order: they are sorted as unsigned 128-bit integers) and the
    /// puzzle's #I and #J. The full HKDF output (255 RHASH blocks) is derived
    /// so that later draws (UPDATE rekeying from the Keymat Index) need no
    /// secret kept besides this buffer.
    pub fn derive(
        suite: HitSuite,
        kij: &[u8],
        hit_a: &Hit,
        hit_b: &Hit,
        i: &[u8],
        j: &[u8],
    ) -> Result<Self, CryptoError> {
        let (lo, hi) = if hit_a <= hit_b { (hit_a, hit_b) } else { (hit_b, hit_a) };
        let mut salt = Zeroizing::new(Vec::with_capacity(i.len() + j.len()));
        salt.extend_from_slice(i);
        salt.extend_from_slice(j);
        let mut info = [0u8; 32];
        info[..16].copy_from_slice(&lo.0);
        info[16..].copy_from_slice(&hi.0);
        let max_len = 255 * suite.rhash_len();
        let hkdf_alg = match suite {
            HitSuite::RsaDsaSha256 => Some(hkdf::HKDF_SHA256),
            HitSuite::EcdsaSha384 => Some(hkdf::HKDF_SHA384),
            HitSuite::EcdsaLowSha1 => Some(hkdf::HKDF_SHA1_FOR_LEGACY_USE_ONLY),
            HitSuite::EddsaCshake128 => None,
        };
        let prk = match hkdf_alg {
            Some(alg) => Prk::Hmac(hkdf::Salt::new(alg, &salt).extract(kij)),
            None => Prk::Kmac(KmacKdf::extract(&salt, kij)),
        };
        let mut k = Keymat { prk, info, okm: Zeroizing::new(Vec::new()), max_len, index: 0 };
        k.expand_to(INITIAL_BLOCKS * suite.rhash_len())?;
        Ok(k)
    }

    /// Make at least `len` octets available (at most the whole KEYMAT).
    fn expand_to(&mut self, len: usize) -> Result<(), CryptoError> {
        if len <= self.okm.len() {
            return Ok(());
        }
        if len > self.max_len {
            return Err(CryptoError::KeymatExhausted);
        }
        // Grow geometrically so repeated small draws stay cheap.
        let len = len.max(2 * self.okm.len()).min(self.max_len);
        let mut okm = Zeroizing::new(vec![0u8; len]);
        match &self.prk {
            Prk::Hmac(prk) => prk
                .expand(&[&self.info], Len(len))
                .and_then(|okm_ref| okm_ref.fill(&mut okm))
                .map_err(|_| CryptoError::KeymatExhausted)?,
            Prk::Kmac(kdf) => kdf.expand(&self.info, &mut okm).ok_or(CryptoError::KeymatExhausted)?,
        }
        self.okm = okm;
        Ok(())
    }

    /// Draws the next `len` octets.
    pub fn draw(&mut self, len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let end = self.index.checked_add(len).ok_or(CryptoError::KeymatExhausted)?;
        self.expand_to(end)?;
        let key = self.okm.get(self.index..end).ok_or(CryptoError::KeymatExhausted)?;
        self.index = end;
        Ok(Zeroizing::new(key.to_vec()))
    }

    /// The Keymat Index: octets drawn so far (ESP_INFO, RFC 7402 Section 5.1.1).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether `len` octets can still be drawn from `index` on: a rekey
    /// without new Diffie-Hellman needs its ESP keys there (RFC 7402 §6.8:
    /// otherwise a new DH is required).
    pub fn can_draw_at(&self, index: usize, len: usize) -> bool {
        index.checked_add(len).is_some_and(|end| end <= self.max_len)
    }

    /// Moves the draw position, e.g. to the Keymat Index agreed in an UPDATE.
    pub fn set_index(&mut self, index: usize) -> Result<(), CryptoError> {
        if index > self.max_len {
            return Err(CryptoError::KeymatExhausted);
        }
        self.index = index;
        Ok(())
    }
}

/// An encryption key (for HIP_CIPHER) and an integrity key (for HIP_MAC).
pub struct KeyPairHalf {
    /// Key of the negotiated HIP_CIPHER (empty for NULL-ENCRYPT).
    pub encryption: Zeroizing<Vec<u8>>,
    /// HMAC key of the HIT suite, RHASH_len octets.
    pub integrity: Zeroizing<Vec<u8>>,
}

/// The HIP keys of an association, oriented for this host.
pub struct HipKeys {
    /// Keys for packets we send.
    pub outbound: KeyPairHalf,
    /// Keys for packets we receive.
    pub inbound: KeyPairHalf,
}

impl HipKeys {
    /// Draws the HIP keys in RFC 7401 Section 6.5 order: HIP-gl encryption,
    /// HIP-gl integrity, HIP-lg encryption, HIP-lg integrity, where "gl"
    /// protects packets from the host with the greater HIT to the lesser.
    /// Call this first on a fresh KEYMAT; ESP keys follow.
    pub fn draw(
        keymat: &mut Keymat,
        suite: HitSuite,
        cipher: HipCipher,
        our_hit: &Hit,
        peer_hit: &Hit,
    ) -> Result<Self, CryptoError> {
        let half = |keymat: &mut Keymat| -> Result<KeyPairHalf, CryptoError> {
            Ok(KeyPairHalf { encryption: keymat.draw(cipher.key_len())?, integrity: keymat.draw(suite.rhash_len())? })
        };
        let gl = half(keymat)?;
        let lg = half(keymat)?;
        Ok(if our_hit > peer_hit {
            HipKeys { outbound: gl, inbound: lg }
        } else {
            HipKeys { outbound: lg, inbound: gl }
        })
    }
}

/// ESP keys of one direction (RFC 7402 Section 7).
pub struct EspKeys {
    /// Encryption key.
    pub encryption: Zeroizing<Vec<u8>>,
    /// Authentication key.
    pub authentication: Zeroizing<Vec<u8>>,
}

/// Both directions of ESP keys, oriented for this host.
pub struct EspKeyPair {
    /// Keys of the SA we send on.
    pub outbound: EspKeys,
    /// Keys of the SA we receive on.
    pub inbound: EspKeys,
}

impl EspKeyPair {
    /// Draws the ESP keys after the HIP keys (RFC 7402 Section 7): SA-gl
    /// encryption, SA-gl authentication, SA-lg encryption, SA-lg
    /// authentication. Key lengths come from the ESP transform.
    pub fn draw(
        keymat: &mut Keymat,
        encryption_len: usize,
        authentication_len: usize,
        our_hit: &Hit,
        peer_hit: &Hit,
    ) -> Result<Self, CryptoError> {
        let half = |keymat: &mut Keymat| -> Result<EspKeys, CryptoError> {
            Ok(EspKeys { encryption: keymat.draw(encryption_len)?, authentication: keymat.draw(authentication_len)? })
        };
        let gl = half(keymat)?;
        let lg = half(keymat)?;
        Ok(if our_hit > peer_hit {
            EspKeyPair { outbound: gl, inbound: lg }
        } else {
            EspKeyPair { outbound: lg, inbound: gl }
        })
    }
}

#[cfg(test)]
mod lazy_tests {
    use super::*;

    /// Lazy expansion gives the same octets as one expansion of the whole
    /// KEYMAT, however the draws cut it, and stops at 255 blocks.
    #[test]
    fn lazy_expansion_matches_one_shot() {
        for suite in [HitSuite::RsaDsaSha256, HitSuite::EcdsaSha384, HitSuite::EcdsaLowSha1, HitSuite::EddsaCshake128] {
            let (a, b) = (Hit([0x20; 16]), Hit([0x21; 16]));
            let new = || Keymat::derive(suite, &[9; 48], &a, &b, &[1; 4], &[2; 4]).unwrap();
            let full_len = 255 * suite.rhash_len();
            let whole = new().draw(full_len).unwrap();
            let mut k = new();
            let mut pieces = Vec::new();
            while k.index() + 7 <= full_len {
                pieces.extend_from_slice(&k.draw(7).unwrap());
            }
            assert_eq!(pieces[..], whole[..pieces.len()]);
            assert!(k.draw(8).is_err());
            let mut k = new();
            k.set_index(full_len - 10).unwrap();
            assert_eq!(k.draw(10).unwrap()[..], whole[full_len - 10..]);
            assert!(k.set_index(full_len + 1).is_err());
        }
    }
}
