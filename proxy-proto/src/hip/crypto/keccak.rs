//! The Keccak primitives of the EdDSA/cSHAKE128 HIT suite (RFC 9374 Section
//! 3.4.2, Table 7): cSHAKE128 as RHASH and ORCHID hash, KMAC128 as the MAC
//! and as the PRF of the suite's KEYMAT. Both come from `tiny-keccak`
//! (NIST SP 800-185); nothing here touches the sponge itself.

use tiny_keccak::{CShake, Hasher, Kmac};

/// RHASH_len / 8 of the suite: 256-bit cSHAKE128 and KMAC128 outputs.
pub const RHASH_LEN: usize = 32;

/// cSHAKE128(X = concatenation of `parts`, L = 8 * out.len(), N = "", S = `customization`).
pub fn cshake128(parts: &[&[u8]], customization: &[u8], out: &mut [u8]) {
    let mut h = CShake::v128(b"", customization);
    for part in parts {
        h.update(part);
    }
    h.finalize(out);
}

/// KMAC128(K = `key`, X = concatenation of `parts`, L = 8 * out.len(), S = "").
pub fn kmac128(key: &[u8], parts: &[&[u8]], out: &mut [u8]) {
    let mut h = Kmac::v128(key, b"");
    for part in parts {
        h.update(part);
    }
    h.finalize(out);
}

/// HKDF (RFC 5869) with KMAC128 in place of HMAC, as RFC 7401 Section 6.5
/// asks for "the HMAC of RHASH": PRK = KMAC(salt, IKM), then
/// T(i) = KMAC(PRK, T(i-1) | info | i) until `out` is full (at most 255 blocks).
pub struct KmacKdf {
    prk: zeroize::Zeroizing<[u8; RHASH_LEN]>,
}

impl KmacKdf {
    /// HKDF-Extract.
    pub fn extract(salt: &[u8], ikm: &[u8]) -> Self {
        let mut prk = zeroize::Zeroizing::new([0u8; RHASH_LEN]);
        kmac128(salt, &[ikm], &mut prk[..]);
        KmacKdf { prk }
    }

    /// HKDF-Expand into `out`; `None` beyond 255 blocks.
    pub fn expand(&self, info: &[u8], out: &mut [u8]) -> Option<()> {
        if out.len() > 255 * RHASH_LEN {
            return None;
        }
        let mut t = zeroize::Zeroizing::new([0u8; RHASH_LEN]);
        for (i, chunk) in out.chunks_mut(RHASH_LEN).enumerate() {
            let counter = [(i + 1) as u8];
            let previous: &[u8] = if i == 0 { &[] } else { &t[..] };
            let mut next = [0u8; RHASH_LEN];
            kmac128(&self.prk[..], &[previous, info, &counter], &mut next);
            t.copy_from_slice(&next);
            chunk.copy_from_slice(&next[..chunk.len()]);
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: usize) -> Vec<u8> {
        (0..n).map(|i| i as u8).collect()
    }

    /// NIST SP 800-185 cSHAKE samples #1 and #2 (cSHAKE128, N = "", S = "Email Signature").
    #[test]
    fn cshake128_nist_samples() {
        let mut out = [0u8; 32];
        cshake128(&[&seq(4)], b"Email Signature", &mut out);
        assert_eq!(hex::encode(out), "c1c36925b6409a04f1b504fcbca9d82b4017277cb5ed2b2065fc1d3814d5aaf5");
        let data = seq(200);
        cshake128(&[&data[..77], &data[77..]], b"Email Signature", &mut out);
        assert_eq!(hex::encode(out), "c5221d50e4f822d96a2e8881a961420f294b7b24fe3d2094baed2c6524cc166b");
    }

    /// NIST SP 800-185 KMAC sample #1 (KMAC128, S = "").
    #[test]
    fn kmac128_nist_sample() {
        let key: Vec<u8> = (0x40..0x60).collect();
        let mut out = [0u8; 32];
        kmac128(&key, &[&seq(4)], &mut out);
        assert_eq!(hex::encode(out), "e5780b0d3ea6f7d3a429c5706aa43a00fadbd7d49628839e3187243f456ee14e");
    }

    /// The KDF is HKDF's structure: block 1 is KMAC(PRK, info | 0x01), block 2
    /// chains block 1, and a short expansion is a prefix of a long one.
    #[test]
    fn kmac_kdf_structure() {
        let kdf = KmacKdf::extract(b"salt", b"ikm");
        let mut prk = [0u8; 32];
        kmac128(b"salt", &[b"ikm"], &mut prk);
        let mut t1 = [0u8; 32];
        kmac128(&prk, &[b"info", &[1]], &mut t1);
        let mut t2 = [0u8; 32];
        kmac128(&prk, &[&t1, b"info", &[2]], &mut t2);
        let mut long = vec![0u8; 70];
        kdf.expand(b"info", &mut long).unwrap();
        assert_eq!(long[..32], t1);
        assert_eq!(long[32..64], t2);
        let mut short = vec![0u8; 40];
        kdf.expand(b"info", &mut short).unwrap();
        assert_eq!(short[..], long[..40]);
        assert!(kdf.expand(b"info", &mut vec![0u8; 255 * 32 + 1]).is_none());
    }
}
