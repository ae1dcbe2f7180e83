//! Finite-field Diffie-Hellman over the RFC 3526 MODP groups, with
//! crypto-bigint's constant-time Montgomery exponentiation (the private
//! exponent never drives a branch or a memory access).

use crypto_bigint::modular::{MontyForm, MontyParams};
use crypto_bigint::{Encoding, Odd, U256, U1536, U2048, U3072, Uint};
use zeroize::Zeroizing;

use super::CryptoError;
use super::modp_primes::{MODP_1536, MODP_2048, MODP_3072};

/// A MODP group; the generator is 2 for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModpGroup {
    Modp1536,
    Modp2048,
    Modp3072,
}

/// Private exponents are 256 bits: twice the 128-bit strength of the
/// 3072-bit group, and above the strength of the smaller two
/// (NIST SP 800-56A Rev. 3, Section 5.6.1.1.1).
const EXPONENT_LEN: usize = 32;

impl ModpGroup {
    pub(crate) fn exponent_len(self) -> usize {
        EXPONENT_LEN
    }

    /// g^x mod p, big-endian at the prime's length.
    pub(crate) fn public_value(self, exponent: &[u8]) -> Vec<u8> {
        let two = [2u8];
        match self {
            ModpGroup::Modp1536 => pow::<{ U1536::LIMBS }>(MODP_1536, &two, exponent),
            ModpGroup::Modp2048 => pow::<{ U2048::LIMBS }>(MODP_2048, &two, exponent),
            ModpGroup::Modp3072 => pow::<{ U3072::LIMBS }>(MODP_3072, &two, exponent),
        }
    }

    /// y^x mod p after checking 1 < y < p-1.
    pub(crate) fn shared_secret(self, exponent: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let ok = match self {
            ModpGroup::Modp1536 => in_range::<{ U1536::LIMBS }>(MODP_1536, peer),
            ModpGroup::Modp2048 => in_range::<{ U2048::LIMBS }>(MODP_2048, peer),
            ModpGroup::Modp3072 => in_range::<{ U3072::LIMBS }>(MODP_3072, peer),
        };
        if !ok {
            return Err(CryptoError::InvalidDhPublicValue);
        }
        let secret = Zeroizing::new(match self {
            ModpGroup::Modp1536 => pow::<{ U1536::LIMBS }>(MODP_1536, peer, exponent),
            ModpGroup::Modp2048 => pow::<{ U2048::LIMBS }>(MODP_2048, peer, exponent),
            ModpGroup::Modp3072 => pow::<{ U3072::LIMBS }>(MODP_3072, peer, exponent),
        });
        Ok(secret)
    }
}

/// Left-pads `bytes` to the width of `Uint<L>`; None if it does not fit.
fn to_uint<const L: usize>(bytes: &[u8]) -> Option<Uint<L>> {
    let width = L * crypto_bigint::Limb::BYTES;
    if bytes.len() > width {
        return None;
    }
    let mut padded = Zeroizing::new(vec![0u8; width]);
    padded[width - bytes.len()..].copy_from_slice(bytes);
    Some(Uint::<L>::from_be_slice(&padded))
}

fn in_range<const L: usize>(prime_hex: &str, value: &[u8]) -> bool {
    let p = Uint::<L>::from_be_hex(prime_hex);
    match to_uint::<L>(value) {
        Some(y) => y > Uint::<L>::ONE && y < p.wrapping_sub(&Uint::<L>::ONE),
        None => false,
    }
}

fn pow<const L: usize>(prime_hex: &str, base: &[u8], exponent: &[u8]) -> Vec<u8>
where
    Uint<L>: Encoding,
{
    let p = Uint::<L>::from_be_hex(prime_hex);
    // The modulus is public, so variable-time setup leaks nothing; the
    // RFC 3526 primes are odd, so Odd::new cannot fail.
    let params = MontyParams::new_vartime(Odd::new(p).expect("RFC 3526 primes are odd"));
    // Callers pass bases shorter than the prime (range-checked or the generator).
    let base = to_uint::<L>(base).unwrap_or(Uint::<L>::ZERO);
    let mut exp_bytes = [0u8; EXPONENT_LEN];
    let n = exponent.len().min(EXPONENT_LEN);
    exp_bytes[EXPONENT_LEN - n..].copy_from_slice(&exponent[exponent.len() - n..]);
    let exp = U256::from_be_slice(&exp_bytes);
    exp_bytes.fill(0);
    let result = MontyForm::new(&base, params).pow(&exp).retrieve();
    result.to_be_bytes().as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The primes were transcribed from RFC 3526 and compared to aws-lc's
    /// tables; this Fermat check catches any later corruption of a digit.
    #[test]
    fn primes_pass_fermat_base_2() {
        fn fermat<const L: usize>(hex: &str) -> bool
        where
            Uint<L>: Encoding,
        {
            let p = Uint::<L>::from_be_hex(hex);
            let params = MontyParams::new_vartime(Odd::new(p).unwrap());
            let pm1 = p.wrapping_sub(&Uint::<L>::ONE);
            MontyForm::new(&Uint::<L>::from_u8(2), params).pow(&pm1).retrieve() == Uint::<L>::ONE
        }
        assert!(fermat::<{ U1536::LIMBS }>(MODP_1536));
        assert!(fermat::<{ U2048::LIMBS }>(MODP_2048));
        assert!(fermat::<{ U3072::LIMBS }>(MODP_3072));
        // RFC 3526: every prime starts with 64 one bits then the digits of pi, and ends with 64 one bits.
        for p in [MODP_1536, MODP_2048, MODP_3072] {
            assert!(p.starts_with("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1"));
            assert!(p.ends_with("FFFFFFFFFFFFFFFF"));
        }
    }

    #[test]
    fn small_exponent_known_answer() {
        // 2^10 = 1024 needs no reduction: checks the byte order end to end.
        let v = ModpGroup::Modp1536.public_value(&[10]);
        assert_eq!(v.len(), 192);
        assert!(v[..190].iter().all(|&b| b == 0));
        assert_eq!(&v[190..], &[0x04, 0x00]);
    }

    #[test]
    fn rejects_out_of_range_public_values() {
        let p = hex::decode(MODP_1536).unwrap();
        let mut pm1 = p.clone();
        *pm1.last_mut().unwrap() -= 1;
        let one = [1u8];
        for bad in [&[0u8][..], &one[..], &pm1[..], &p[..], &[0xffu8; 193][..]] {
            assert_eq!(ModpGroup::Modp1536.shared_secret(&[5], bad), Err(CryptoError::InvalidDhPublicValue));
        }
        assert!(ModpGroup::Modp1536.shared_secret(&[5], &[2]).is_ok());
    }
}
