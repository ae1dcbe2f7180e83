//! HIP keying material (RFC 7401 Section 6.5):
//! KEYMAT = HKDF with RHASH, salt I | J, IKM Kij, info sort(HIT-I | HIT-R);
//! keys are drawn from it in a fixed order, first the HIP keys, then the ESP
//! keys (RFC 7402 Section 7).

use aws_lc_rs::hkdf;
use zeroize::Zeroizing;

use super::{CryptoError, HipCipher, Hit, HitSuite};

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// The KEYMAT of one association, with the index of the next unused octet.
pub struct Keymat {
    okm: Zeroizing<Vec<u8>>,
    index: usize,
}

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
        let alg = match suite {
            HitSuite::RsaDsaSha256 => hkdf::HKDF_SHA256,
            HitSuite::EcdsaSha384 => hkdf::HKDF_SHA384,
            HitSuite::EcdsaLowSha1 => hkdf::HKDF_SHA1_FOR_LEGACY_USE_ONLY,
        };
        let (lo, hi) = if hit_a <= hit_b { (hit_a, hit_b) } else { (hit_b, hit_a) };
        let mut salt = Zeroizing::new(Vec::with_capacity(i.len() + j.len()));
        salt.extend_from_slice(i);
        salt.extend_from_slice(j);
        let mut info = [0u8; 32];
        info[..16].copy_from_slice(&lo.0);
        info[16..].copy_from_slice(&hi.0);
        let len = 255 * suite.rhash_len();
        let mut okm = Zeroizing::new(vec![0u8; len]);
        hkdf::Salt::new(alg, &salt)
            .extract(kij)
            .expand(&[&info], Len(len))
            .and_then(|okm_ref| okm_ref.fill(&mut okm))
            .map_err(|_| CryptoError::KeymatExhausted)?;
        Ok(Keymat { okm, index: 0 })
    }

    /// Draws the next `len` octets.
    pub fn draw(&mut self, len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let end = self.index.checked_add(len).ok_or(CryptoError::KeymatExhausted)?;
        let key = self.okm.get(self.index..end).ok_or(CryptoError::KeymatExhausted)?;
        self.index = end;
        Ok(Zeroizing::new(key.to_vec()))
    }

    /// The Keymat Index: octets drawn so far (ESP_INFO, RFC 7402 Section 5.1.1).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Moves the draw position, e.g. to the Keymat Index agreed in an UPDATE.
    pub fn set_index(&mut self, index: usize) -> Result<(), CryptoError> {
        if index > self.okm.len() {
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
