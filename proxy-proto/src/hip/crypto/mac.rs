//! HIP_MAC and HIP_MAC_2 (RFC 7401 Sections 5.2.12, 5.2.13): HMAC with the
//! HIT suite's hash over bytes the wire layer prepares, at full hash length
//! (HIPv2 does not truncate; the third-party capture carries 32 and 48 octets).

use aws_lc_rs::hmac;

use super::{CryptoError, HitSuite, keccak};

/// Computes the HMAC of `data` with the integrity key (KMAC128 with a
/// 256-bit output for EdDSA/cSHAKE128, RFC 9374 Table 7).
pub fn compute(suite: HitSuite, key: &[u8], data: &[u8]) -> Vec<u8> {
    match suite.hmac_algorithm() {
        Some(alg) => hmac::sign(&hmac::Key::new(alg, key), data).as_ref().to_vec(),
        None => {
            let mut out = vec![0u8; keccak::RHASH_LEN];
            keccak::kmac128(key, &[data], &mut out);
            out
        }
    }
}

/// Checks a received HMAC in constant time.
pub fn verify(suite: HitSuite, key: &[u8], data: &[u8], mac: &[u8]) -> Result<(), CryptoError> {
    match suite.hmac_algorithm() {
        Some(alg) => hmac::verify(&hmac::Key::new(alg, key), data, mac).map_err(|_| CryptoError::BadMac),
        None => aws_lc_rs::constant_time::verify_slices_are_equal(&compute(suite, key, data), mac)
            .map_err(|_| CryptoError::BadMac),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 Test Case 2 (HMAC-SHA-256 and -384) and RFC 2202 Test Case 2 (HMAC-SHA-1).
    #[test]
    fn known_answers() {
        let data = b"what do ya want for nothing?";
        assert_eq!(
            hex::encode(compute(HitSuite::RsaDsaSha256, b"Jefe", data)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(compute(HitSuite::EcdsaSha384, b"Jefe", data)),
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
        );
        assert_eq!(
            hex::encode(compute(HitSuite::EcdsaLowSha1, b"Jefe", data)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        // EdDSA/cSHAKE128: KMAC128, SP 800-185 KMAC sample #1.
        let key: Vec<u8> = (0x40..0x60).collect();
        assert_eq!(
            hex::encode(compute(HitSuite::EddsaCshake128, &key, &[0, 1, 2, 3])),
            "e5780b0d3ea6f7d3a429c5706aa43a00fadbd7d49628839e3187243f456ee14e"
        );
    }

    #[test]
    fn tampered_data_or_mac_rejected() {
        for suite in [HitSuite::RsaDsaSha256, HitSuite::EddsaCshake128] {
            let mac = compute(suite, b"key", b"packet");
            assert_eq!(verify(suite, b"key", b"packet", &mac), Ok(()));
            assert_eq!(verify(suite, b"key", b"packeT", &mac), Err(CryptoError::BadMac));
            let mut bad = mac.clone();
            bad[31] ^= 0x80;
            assert_eq!(verify(suite, b"key", b"packet", &bad), Err(CryptoError::BadMac));
            assert_eq!(verify(suite, b"key", b"packet", &mac[..16]), Err(CryptoError::BadMac));
            assert_eq!(verify(suite, b"kez", b"packet", &mac), Err(CryptoError::BadMac));
        }
    }
}
