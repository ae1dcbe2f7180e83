//! Our own Host Identity: a key pair that signs (RFC 7401 Sections 5.2.9, 5.2.14),
//! generated here and stored by the daemon as PKCS#8 PEM (mode 0600).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use zeroize::Zeroizing;

use super::CryptoError;
use super::host_id::{EcdsaCurve, HostIdPublic};

/// Which key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostIdKind {
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// ECDSA over NIST P-256.
    EcdsaP256,
    /// ECDSA over NIST P-384.
    EcdsaP384,
    /// EdDSA over Ed25519 (RFC 9374).
    Ed25519,
}

/// A Host Identity with its private key.
pub enum HostIdentity {
    /// RSA key pair.
    Rsa(RsaKeyPair),
    /// ECDSA key pair and its curve.
    Ecdsa(EcdsaKeyPair, EcdsaCurve),
    /// Ed25519 key pair.
    Ed25519(Ed25519KeyPair),
}

impl core::fmt::Debug for HostIdentity {
    // Never print key material.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("HostIdentity").field(&self.public().algorithm()).finish()
    }
}

fn signing_alg(curve: EcdsaCurve) -> &'static signature::EcdsaSigningAlgorithm {
    match curve {
        EcdsaCurve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        EcdsaCurve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
    }
}

const PKCS8_LABEL: &str = "PRIVATE KEY";
/// RFC 5915 EC keys, as written by OpenSSL and the third-party implementation.
const SEC1_LABEL: &str = "EC PRIVATE KEY";
/// PKCS#1 RSA keys.
const PKCS1_LABEL: &str = "RSA PRIVATE KEY";

impl HostIdentity {
    /// Generates a new Host Identity (randomness from aws-lc's DRBG).
    pub fn generate(kind: HostIdKind) -> Result<Self, CryptoError> {
        let rsa = |size| RsaKeyPair::generate(size).map(HostIdentity::Rsa);
        let ecdsa = |curve| EcdsaKeyPair::generate(signing_alg(curve)).map(|k| HostIdentity::Ecdsa(k, curve));
        match kind {
            HostIdKind::Rsa2048 => rsa(KeySize::Rsa2048),
            HostIdKind::Rsa3072 => rsa(KeySize::Rsa3072),
            HostIdKind::Rsa4096 => rsa(KeySize::Rsa4096),
            HostIdKind::EcdsaP256 => ecdsa(EcdsaCurve::P256),
            HostIdKind::EcdsaP384 => ecdsa(EcdsaCurve::P384),
            HostIdKind::Ed25519 => Ed25519KeyPair::generate().map(HostIdentity::Ed25519),
        }
        .map_err(|_| CryptoError::KeyGeneration)
    }

    /// The PKCS#8 (v1) DER encoding of the private key.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let der = match self {
            HostIdentity::Rsa(k) => k.as_der().map(|d| d.as_ref().to_vec()),
            HostIdentity::Ecdsa(k, _) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            HostIdentity::Ed25519(k) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
        };
        der.map(Zeroizing::new).map_err(|_| CryptoError::KeyRejected)
    }

    /// The private key as a PKCS#8 PEM document ("PRIVATE KEY").
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, CryptoError> {
        let der = self.to_pkcs8_der()?;
        let doc = pem::Pem::new(PKCS8_LABEL, der.to_vec());
        Ok(Zeroizing::new(pem::encode(&doc)))
    }

    /// Loads a private key from PEM: PKCS#8 ("PRIVATE KEY") of any supported
    /// algorithm, or the legacy RFC 5915 ("EC PRIVATE KEY") and PKCS#1
    /// ("RSA PRIVATE KEY") forms.
    pub fn from_pem(pem_text: &str) -> Result<Self, CryptoError> {
        let doc = pem::parse(pem_text).map_err(|_| CryptoError::MalformedPem)?;
        let der = Zeroizing::new(doc.contents().to_vec());
        match doc.tag() {
            PKCS8_LABEL => Self::from_pkcs8_der(&der),
            SEC1_LABEL => [EcdsaCurve::P256, EcdsaCurve::P384]
                .into_iter()
                .find_map(|curve| {
                    EcdsaKeyPair::from_private_key_der(signing_alg(curve), &der)
                        .ok()
                        .map(|k| HostIdentity::Ecdsa(k, curve))
                })
                .ok_or(CryptoError::KeyRejected),
            PKCS1_LABEL => RsaKeyPair::from_der(&der).map(HostIdentity::Rsa).map_err(|_| CryptoError::KeyRejected),
            _ => Err(CryptoError::MalformedPem),
        }
    }

    /// Loads a private key from PKCS#8 DER (v1 or v2).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return Ok(HostIdentity::Ed25519(k));
        }
        for curve in [EcdsaCurve::P256, EcdsaCurve::P384] {
            if let Ok(k) = EcdsaKeyPair::from_pkcs8(signing_alg(curve), der) {
                return Ok(HostIdentity::Ecdsa(k, curve));
            }
        }
        RsaKeyPair::from_pkcs8(der).map(HostIdentity::Rsa).map_err(|_| CryptoError::KeyRejected)
    }

    /// The public Host Identity.
    pub fn public(&self) -> HostIdPublic {
        match self {
            HostIdentity::Rsa(k) => {
                let public = k.public_key();
                HostIdPublic::Rsa {
                    exponent: public.exponent().big_endian_without_leading_zero().to_vec(),
                    modulus: public.modulus().big_endian_without_leading_zero().to_vec(),
                }
            }
            HostIdentity::Ecdsa(k, curve) => {
                HostIdPublic::Ecdsa { curve: *curve, point: k.public_key().as_ref().to_vec() }
            }
            HostIdentity::Ed25519(k) => {
                let mut key = [0u8; 32];
                key.copy_from_slice(k.public_key().as_ref());
                HostIdPublic::Ed25519(key)
            }
        }
    }

    /// Signs `message` for a HIP_SIGNATURE / HIP_SIGNATURE_2 Signature field
    /// (RFC 7401 Section 5.2.14): RSASSA-PKCS1-v1_5/SHA-256, ECDSA r || s, or Ed25519.
    ///
    /// ECDSA nonces come from aws-lc's own DRBG, which is not injectable.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match self {
            HostIdentity::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                let rng = aws_lc_rs::rand::SystemRandom::new();
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| CryptoError::SigningFailed)?;
                Ok(sig)
            }
            HostIdentity::Ecdsa(k, _) => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                k.sign(&rng, message).map(|s| s.as_ref().to_vec()).map_err(|_| CryptoError::SigningFailed)
            }
            HostIdentity::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}
