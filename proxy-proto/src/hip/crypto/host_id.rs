//! Public Host Identities: the Host Identity field of the HOST_ID parameter
//! (RFC 7401 Section 5.2.9), signature verification, and loading from SPKI PEM.

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

use super::der;
use super::{CryptoError, HitSuite};

/// HI algorithm numbers of the HOST_ID parameter (RFC 7401 Section 5.2.9,
/// RFC 9374 Section 3.4 for EdDSA). Not the DNS HIP RR numbers (RFC 8005).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum HiAlgorithm {
    /// RSA (RFC 3110 key encoding), signatures RSASSA-PKCS1-v1_5 with SHA-256 (RFC 5702).
    Rsa = 5,
    /// ECDSA over NIST P-256 or P-384 (RFC 6090).
    Ecdsa = 7,
    /// ECDSA_LOW over SECP160R1: recognised, not implemented (no library support).
    EcdsaLow = 9,
    /// EdDSA (RFC 8032), RFC 9374.
    EdDsa = 13,
}

impl HiAlgorithm {
    /// The algorithm with this HOST_ID number.
    pub fn from_u16(value: u16) -> Result<Self, CryptoError> {
        match value {
            5 => Ok(HiAlgorithm::Rsa),
            7 => Ok(HiAlgorithm::Ecdsa),
            9 => Ok(HiAlgorithm::EcdsaLow),
            13 => Ok(HiAlgorithm::EdDsa),
            other => Err(CryptoError::UnsupportedHiAlgorithm(other)),
        }
    }
}

/// The ECC Curve field of an ECDSA Host Identity (RFC 7401 Section 5.2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum EcdsaCurve {
    /// NIST P-256, signatures with SHA-256.
    P256 = 1,
    /// NIST P-384, signatures with SHA-384.
    P384 = 2,
}

impl EcdsaCurve {
    fn from_u16(value: u16) -> Result<Self, CryptoError> {
        match value {
            1 => Ok(EcdsaCurve::P256),
            2 => Ok(EcdsaCurve::P384),
            other => Err(CryptoError::UnsupportedCurve(other)),
        }
    }

    /// Length of one coordinate in octets.
    pub fn coordinate_len(self) -> usize {
        match self {
            EcdsaCurve::P256 => 32,
            EcdsaCurve::P384 => 48,
        }
    }

    fn verification(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            EcdsaCurve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            EcdsaCurve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
        }
    }
}

/// RSA signature padding. RFC 7401 Section 5.2.14 points to RFC 5702 for
/// RSA/SHA-256, i.e. RSASSA-PKCS1-v1_5; PSS exists only to interoperate with
/// implementations that sign with RSASSA-PSS/SHA-256 (the third-party capture does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaPadding {
    /// RSASSA-PKCS1-v1_5 with SHA-256: what RFC 7401 specifies and what we sign with.
    Pkcs1Sha256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-octet salt (interoperability only).
    PssSha256,
}

/// The EdDSA Curve Label of RFC 9374 Section 3.4 (only Ed25519 is implemented).
pub const EDDSA_CURVE_ED25519: u16 = 1;

/// A peer's (or our own) public Host Identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostIdPublic {
    /// RSA public key, big-endian without leading zeros.
    Rsa {
        /// Public exponent e.
        exponent: Vec<u8>,
        /// Modulus n.
        modulus: Vec<u8>,
    },
    /// ECDSA public key.
    Ecdsa {
        /// The curve.
        curve: EcdsaCurve,
        /// The uncompressed point 0x04 || X || Y.
        point: Vec<u8>,
    },
    /// Ed25519 public key (RFC 8032 encoding).
    Ed25519([u8; 32]),
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

impl HostIdPublic {
    /// The HOST_ID Algorithm field.
    pub fn algorithm(&self) -> HiAlgorithm {
        match self {
            HostIdPublic::Rsa { .. } => HiAlgorithm::Rsa,
            HostIdPublic::Ecdsa { .. } => HiAlgorithm::Ecdsa,
            HostIdPublic::Ed25519(_) => HiAlgorithm::EdDsa,
        }
    }

    /// The HIT Suite whose RHASH derives this HI's HIT (RFC 7401 Section 5.2.10:
    /// RSA -> RSA,DSA/SHA-256, ECDSA -> ECDSA/SHA-384; RFC 9374 Section 3.4.2:
    /// EdDSA -> EdDSA/cSHAKE128).
    pub fn hit_suite(&self) -> Result<HitSuite, CryptoError> {
        match self {
            HostIdPublic::Rsa { .. } => Ok(HitSuite::RsaDsaSha256),
            HostIdPublic::Ecdsa { .. } => Ok(HitSuite::EcdsaSha384),
            HostIdPublic::Ed25519(_) => Ok(HitSuite::EddsaCshake128),
        }
    }

    /// Encodes the Host Identity field of HOST_ID (without the Algorithm field,
    /// which the HOST_ID header carries). These are also the octets hashed into
    /// the HIT (RFC 7401 Section 3.2).
    ///
    /// - RSA per RFC 3110 Section 2: exponent length (1 octet, or 0 and 2 octets
    ///   when the exponent exceeds 255 octets), exponent, modulus.
    /// - ECDSA: ECC Curve (2 octets), then the public point. The point carries
    ///   the 0x04 uncompressed-form octet: the third-party HITs in
    ///   /work/shared/vectors only verify with it (see the tests).
    /// - EdDSA per RFC 9374: EdDSA Curve (2 octets), then the public key.
    pub fn to_host_identity(&self) -> Vec<u8> {
        match self {
            HostIdPublic::Rsa { exponent, modulus } => {
                let mut out = Vec::with_capacity(3 + exponent.len() + modulus.len());
                match u8::try_from(exponent.len()) {
                    Ok(len) => out.push(len),
                    Err(_) => {
                        out.push(0);
                        // A u16 length suffices: from_rsa_components caps the exponent.
                        out.extend_from_slice(&(exponent.len() as u16).to_be_bytes());
                    }
                }
                out.extend_from_slice(exponent);
                out.extend_from_slice(modulus);
                out
            }
            HostIdPublic::Ecdsa { curve, point } => {
                let mut out = (*curve as u16).to_be_bytes().to_vec();
                out.extend_from_slice(point);
                out
            }
            HostIdPublic::Ed25519(key) => {
                let mut out = EDDSA_CURVE_ED25519.to_be_bytes().to_vec();
                out.extend_from_slice(key);
                out
            }
        }
    }

    /// Decodes a Host Identity field given the HOST_ID Algorithm field.
    ///
    /// ECDSA points are accepted with or without the 0x04 octet; hash the
    /// received octets, not a re-encoding, when deriving the peer's HIT.
    pub fn from_host_identity(algorithm: u16, hi: &[u8]) -> Result<Self, CryptoError> {
        match HiAlgorithm::from_u16(algorithm)? {
            HiAlgorithm::Rsa => {
                let (&first, rest) = hi.split_first().ok_or(CryptoError::MalformedHostId)?;
                let (exp_len, rest) = if first != 0 {
                    (usize::from(first), rest)
                } else {
                    let (len, rest) = rest.split_at_checked(2).ok_or(CryptoError::MalformedHostId)?;
                    (usize::from(u16::from_be_bytes([len[0], len[1]])), rest)
                };
                let (exponent, modulus) = rest.split_at_checked(exp_len).ok_or(CryptoError::MalformedHostId)?;
                Self::from_rsa_components(exponent, modulus)
            }
            HiAlgorithm::Ecdsa => {
                let (curve, point) = hi.split_at_checked(2).ok_or(CryptoError::MalformedHostId)?;
                let curve = EcdsaCurve::from_u16(u16::from_be_bytes([curve[0], curve[1]]))?;
                let n = curve.coordinate_len();
                let point = if point.len() == 2 * n + 1 && point[0] == 0x04 {
                    point.to_vec()
                } else if point.len() == 2 * n {
                    let mut p = vec![0x04];
                    p.extend_from_slice(point);
                    p
                } else {
                    return Err(CryptoError::MalformedHostId);
                };
                // Reject points that are not on the curve now rather than at verify time.
                aws_lc_rs::signature::ParsedPublicKey::new(curve.verification(), &point)
                    .map_err(|_| CryptoError::KeyRejected)?;
                Ok(HostIdPublic::Ecdsa { curve, point })
            }
            HiAlgorithm::EdDsa => {
                let (curve, key) = hi.split_at_checked(2).ok_or(CryptoError::MalformedHostId)?;
                let curve = u16::from_be_bytes([curve[0], curve[1]]);
                if curve != EDDSA_CURVE_ED25519 {
                    return Err(CryptoError::UnsupportedCurve(curve));
                }
                let key: [u8; 32] = key.try_into().map_err(|_| CryptoError::MalformedHostId)?;
                Ok(HostIdPublic::Ed25519(key))
            }
            HiAlgorithm::EcdsaLow => Err(CryptoError::UnsupportedHiAlgorithm(algorithm)),
        }
    }

    /// An RSA HI from its exponent and modulus (big-endian).
    pub fn from_rsa_components(exponent: &[u8], modulus: &[u8]) -> Result<Self, CryptoError> {
        let exponent = strip_leading_zeros(exponent);
        let modulus = strip_leading_zeros(modulus);
        // RFC 3110 caps the exponent at 4096 bits; the modulus must be there.
        if exponent.is_empty() || exponent.len() > 512 || modulus.is_empty() {
            return Err(CryptoError::MalformedHostId);
        }
        Ok(HostIdPublic::Rsa { exponent: exponent.to_vec(), modulus: modulus.to_vec() })
    }

    /// Loads a public key from a PEM SubjectPublicKeyInfo ("PUBLIC KEY").
    pub fn from_spki_pem(pem_text: &str) -> Result<Self, CryptoError> {
        let doc = pem::parse(pem_text).map_err(|_| CryptoError::MalformedPem)?;
        if doc.tag() != "PUBLIC KEY" {
            return Err(CryptoError::MalformedPem);
        }
        Self::from_spki_der(doc.contents())
    }

    /// Loads a public key from a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, CryptoError> {
        let parsed = der::parse_spki(spki)?;
        if parsed.algorithm == der::OID_RSA_ENCRYPTION {
            let key = aws_lc_rs::rsa::PublicKey::from_der(spki).map_err(|_| CryptoError::KeyRejected)?;
            Self::from_rsa_components(
                key.exponent().big_endian_without_leading_zero(),
                key.modulus().big_endian_without_leading_zero(),
            )
        } else if parsed.algorithm == der::OID_EC_PUBLIC_KEY {
            let curve = match parsed.parameter {
                Some(oid) if oid == der::OID_P256 => EcdsaCurve::P256,
                Some(oid) if oid == der::OID_P384 => EcdsaCurve::P384,
                _ => return Err(CryptoError::UnsupportedCurve(0)),
            };
            let mut hi = (curve as u16).to_be_bytes().to_vec();
            hi.extend_from_slice(parsed.public_key);
            Self::from_host_identity(HiAlgorithm::Ecdsa as u16, &hi)
        } else if parsed.algorithm == der::OID_ED25519 {
            let key = parsed.public_key.try_into().map_err(|_| CryptoError::KeyRejected)?;
            Ok(HostIdPublic::Ed25519(key))
        } else {
            Err(CryptoError::KeyRejected)
        }
    }

    /// Verifies a HIP_SIGNATURE / HIP_SIGNATURE_2 Signature field over `message`
    /// (RFC 7401 Section 5.2.14: RSA per RFC 5702, i.e. RSASSA-PKCS1-v1_5 with
    /// SHA-256; ECDSA as r || s per RFC 6090, hash by curve; Ed25519 per RFC 8032).
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        self.verify_with(RsaPadding::Pkcs1Sha256, message, sig)
    }

    /// As [`HostIdPublic::verify`], with an explicit RSA padding (ignored for
    /// other algorithms). RSA moduli below 2048 bits are refused.
    pub fn verify_with(&self, padding: RsaPadding, message: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        let result = match self {
            HostIdPublic::Rsa { exponent, modulus } => {
                let params = match padding {
                    RsaPadding::Pkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    RsaPadding::PssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
                };
                RsaPublicKeyComponents { n: modulus, e: exponent }.verify(params, message, sig)
            }
            HostIdPublic::Ecdsa { curve, point } => {
                UnparsedPublicKey::new(curve.verification(), point).verify(message, sig)
            }
            HostIdPublic::Ed25519(key) => UnparsedPublicKey::new(&signature::ED25519, key).verify(message, sig),
        };
        result.map_err(|_| CryptoError::BadSignature)
    }
}
