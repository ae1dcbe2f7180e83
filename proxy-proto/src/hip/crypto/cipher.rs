//! HIP_CIPHER suites (RFC 7401 Section 5.2.8) and the contents of the
//! ENCRYPTED parameter (Section 5.2.18): IV, then the encrypted parameters.

use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};

use super::CryptoError;

/// A HIP_CIPHER Suite ID.
///
/// 3DES-CBC (ID 3) is recognised and refused: it is deprecated and this
/// proxy never offers or accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum HipCipher {
    /// NULL-ENCRYPT (ID 1): the "encrypted" data is the plaintext, no IV.
    NullEncrypt = 1,
    /// AES-128-CBC (ID 2), 16-octet IV.
    Aes128Cbc = 2,
    /// AES-256-CBC (ID 4), 16-octet IV.
    Aes256Cbc = 4,
}

const AES_BLOCK: usize = 16;

impl HipCipher {
    /// The suite with this ID.
    pub fn from_u16(id: u16) -> Result<Self, CryptoError> {
        match id {
            1 => Ok(HipCipher::NullEncrypt),
            2 => Ok(HipCipher::Aes128Cbc),
            4 => Ok(HipCipher::Aes256Cbc),
            other => Err(CryptoError::UnsupportedCipher(other)),
        }
    }

    /// The wire ID.
    pub fn id(self) -> u16 {
        self as u16
    }

    /// Length of the key drawn from KEYMAT (RFC 7401 Section 6.5).
    pub fn key_len(self) -> usize {
        match self {
            HipCipher::NullEncrypt => 0,
            HipCipher::Aes128Cbc => 16,
            HipCipher::Aes256Cbc => 32,
        }
    }

    /// Length of the IV field of ENCRYPTED.
    pub fn iv_len(self) -> usize {
        match self {
            HipCipher::NullEncrypt => 0,
            _ => AES_BLOCK,
        }
    }

    fn unbound(self, key: &[u8]) -> Result<UnboundCipherKey, CryptoError> {
        let alg = match self {
            HipCipher::Aes128Cbc => &AES_128,
            HipCipher::Aes256Cbc => &AES_256,
            HipCipher::NullEncrypt => return Err(CryptoError::UnsupportedCipher(self.id())),
        };
        UnboundCipherKey::new(alg, key).map_err(|_| CryptoError::KeyRejected)
    }

    /// Builds the ENCRYPTED parameter's payload after its Reserved field:
    /// IV || ciphertext. The plaintext (the encrypted parameters, already in
    /// TLV form) is padded to the block size with PKCS#7-style octets; the
    /// receiver finds the end of the data from the inner TLV lengths, so any
    /// padding it does not parse is ignored (RFC 7401 Section 5.2.18).
    /// The IV comes from `rng` and must be unpredictable.
    pub fn encrypt(self, key: &[u8], plaintext: &[u8], rng: &mut dyn FnMut(&mut [u8])) -> Result<Vec<u8>, CryptoError> {
        if self == HipCipher::NullEncrypt {
            return Ok(plaintext.to_vec());
        }
        let encrypting = EncryptingKey::cbc(self.unbound(key)?).map_err(|_| CryptoError::KeyRejected)?;
        let mut iv = [0u8; AES_BLOCK];
        rng(&mut iv);
        let pad = AES_BLOCK - plaintext.len() % AES_BLOCK;
        let mut out = Vec::with_capacity(AES_BLOCK + plaintext.len() + pad);
        out.extend_from_slice(&iv);
        out.extend_from_slice(plaintext);
        out.resize(AES_BLOCK + plaintext.len() + pad, pad as u8);
        encrypting
            .less_safe_encrypt(&mut out[AES_BLOCK..], EncryptionContext::Iv128(iv.into()))
            .map_err(|_| CryptoError::KeyRejected)?;
        Ok(out)
    }

    /// Opens IV || ciphertext and returns the plaintext including padding:
    /// the caller parses the inner parameters and ignores what follows them.
    /// Errors if the ciphertext is not a whole number of blocks.
    pub fn decrypt(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if self == HipCipher::NullEncrypt {
            return Ok(data.to_vec());
        }
        let (iv, ciphertext) = data.split_at_checked(AES_BLOCK).ok_or(CryptoError::DecryptionFailed)?;
        if ciphertext.is_empty() || ciphertext.len() % AES_BLOCK != 0 {
            return Err(CryptoError::DecryptionFailed);
        }
        let iv: [u8; AES_BLOCK] = iv.try_into().map_err(|_| CryptoError::DecryptionFailed)?;
        let decrypting = DecryptingKey::cbc(self.unbound(key)?).map_err(|_| CryptoError::KeyRejected)?;
        let mut out = ciphertext.to_vec();
        decrypting.decrypt(&mut out, DecryptionContext::Iv128(iv.into())).map_err(|_| CryptoError::DecryptionFailed)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_iv(iv: [u8; 16]) -> impl FnMut(&mut [u8]) {
        move |buf: &mut [u8]| buf.copy_from_slice(&iv)
    }

    /// NIST SP 800-38A F.2.1 (CBC-AES128.Encrypt), first block.
    #[test]
    fn aes128_cbc_known_answer() {
        let key = hex::decode("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
        let iv: [u8; 16] = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap().try_into().unwrap();
        let pt = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        let out = HipCipher::Aes128Cbc.encrypt(&key, &pt, &mut fixed_iv(iv)).unwrap();
        assert_eq!(&out[..16], &iv);
        assert_eq!(hex::encode(&out[16..32]), "7649abac8119b246cee98e9b12e9197d");
        // A full block of padding follows a block-aligned plaintext.
        assert_eq!(out.len(), 48);
        let back = HipCipher::Aes128Cbc.decrypt(&key, &out).unwrap();
        assert_eq!(&back[..16], &pt[..]);
        assert_eq!(&back[16..], &[16u8; 16]);
    }

    /// NIST SP 800-38A F.2.5 (CBC-AES256.Encrypt), first block.
    #[test]
    fn aes256_cbc_known_answer_and_round_trip() {
        let key = hex::decode("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4").unwrap();
        let iv: [u8; 16] = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap().try_into().unwrap();
        let pt = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        let out = HipCipher::Aes256Cbc.encrypt(&key, &pt, &mut fixed_iv(iv)).unwrap();
        assert_eq!(hex::encode(&out[16..32]), "f58c4c04d6e5f1ba779eabfb5f7bfbd6");
        let msg = b"HOST_ID parameter, 24 o.";
        let out = HipCipher::Aes256Cbc.encrypt(&key, msg, &mut fixed_iv([9; 16])).unwrap();
        assert_eq!(out.len(), 16 + 32);
        let back = HipCipher::Aes256Cbc.decrypt(&key, &out).unwrap();
        assert_eq!(&back[..msg.len()], msg);
        assert_eq!(&back[msg.len()..], &[8u8; 8]);
    }

    #[test]
    fn null_encrypt_and_malformed_input() {
        assert_eq!(HipCipher::NullEncrypt.encrypt(&[], b"abc", &mut |_| {}).unwrap(), b"abc");
        assert_eq!(HipCipher::NullEncrypt.decrypt(&[], b"abc").unwrap(), b"abc");
        let key = [0u8; 16];
        for bad in [&[0u8; 0][..], &[0u8; 15], &[0u8; 16], &[0u8; 33]] {
            assert_eq!(HipCipher::Aes128Cbc.decrypt(&key, bad), Err(CryptoError::DecryptionFailed));
        }
        assert_eq!(HipCipher::Aes128Cbc.decrypt(&[0u8; 15], &[0u8; 32]), Err(CryptoError::KeyRejected));
        assert_eq!(HipCipher::from_u16(3), Err(CryptoError::UnsupportedCipher(3)));
        assert_eq!(HipCipher::from_u16(4), Ok(HipCipher::Aes256Cbc));
        assert_eq!(HipCipher::Aes256Cbc.key_len(), 32);
    }
}
