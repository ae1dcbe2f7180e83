//! The ESP transforms HIP negotiates in ESP_TRANSFORM (RFC 7402 §5.1.2),
//! with the sizes that shape a packet and the KEYMAT each one draws.

use super::packet::{HEADER_LEN, TRAILER_LEN};

/// An ESP transform suite.
///
/// Suite IDs from RFC 7402 §5.1.2 (IANA "ESP Transform Suite IDs"). Only the
/// suites this proxy implements are listed; [`Transform::Aes256Gcm16`] has
/// no HIP suite ID and exists for SAs keyed by other means (the VPN side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// 7: NULL encryption (RFC 2410) with HMAC-SHA-256-128 (RFC 4868).
    NullHmacSha256,
    /// 8: AES-128-CBC (RFC 3602) with HMAC-SHA-256-128 (RFC 4868).
    Aes128CbcHmacSha256,
    /// 9: AES-256-CBC (RFC 3602) with HMAC-SHA-256-128 (RFC 4868).
    Aes256CbcHmacSha256,
    /// 13: AES-GCM with a 16-octet ICV (RFC 4106), 128-bit key.
    Aes128Gcm16,
    /// AES-GCM with a 16-octet ICV (RFC 4106), 256-bit key: no HIP suite ID.
    Aes256Gcm16,
}

/// Output length of HMAC-SHA-256 truncated to 128 bits (RFC 4868 §2.3).
pub const HMAC_SHA256_128_LEN: usize = 16;
/// HMAC-SHA-256 key length (RFC 4868 §2.1.1: the key is as long as the
/// hash output).
pub const HMAC_SHA256_KEY_LEN: usize = 32;
/// RFC 4106 §8.1: the salt is the last four octets of the KEYMAT.
pub const GCM_SALT_LEN: usize = 4;
/// RFC 4106 §3.1: the explicit IV carried in each packet.
pub const GCM_IV_LEN: usize = 8;
/// RFC 3602 §3: the CBC IV is one AES block.
pub const CBC_IV_LEN: usize = 16;

impl Transform {
    /// Every transform this module implements.
    pub const ALL: [Transform; 5] = [
        Transform::NullHmacSha256,
        Transform::Aes128CbcHmacSha256,
        Transform::Aes256CbcHmacSha256,
        Transform::Aes128Gcm16,
        Transform::Aes256Gcm16,
    ];

    /// The ESP_TRANSFORM suite ID (RFC 7402 §5.1.2), if HIP has one.
    pub const fn suite_id(self) -> Option<u16> {
        match self {
            Transform::NullHmacSha256 => Some(7),
            Transform::Aes128CbcHmacSha256 => Some(8),
            Transform::Aes256CbcHmacSha256 => Some(9),
            Transform::Aes128Gcm16 => Some(13),
            Transform::Aes256Gcm16 => None,
        }
    }

    /// The transform for a suite ID offered in ESP_TRANSFORM, if we
    /// implement it.
    pub const fn from_suite_id(id: u16) -> Option<Transform> {
        match id {
            7 => Some(Transform::NullHmacSha256),
            8 => Some(Transform::Aes128CbcHmacSha256),
            9 => Some(Transform::Aes256CbcHmacSha256),
            13 => Some(Transform::Aes128Gcm16),
            _ => None,
        }
    }

    /// Bytes of encryption key drawn from KEYMAT, GCM salt included
    /// (RFC 4106 §8.1: "four octets longer than is needed for the AES key").
    pub const fn encryption_key_len(self) -> usize {
        match self {
            Transform::NullHmacSha256 => 0,
            Transform::Aes128CbcHmacSha256 => 16,
            Transform::Aes256CbcHmacSha256 => 32,
            Transform::Aes128Gcm16 => 16 + GCM_SALT_LEN,
            Transform::Aes256Gcm16 => 32 + GCM_SALT_LEN,
        }
    }

    /// Bytes of integrity key drawn from KEYMAT (zero for combined-mode
    /// AEAD).
    pub const fn integrity_key_len(self) -> usize {
        match self {
            Transform::NullHmacSha256 | Transform::Aes128CbcHmacSha256 | Transform::Aes256CbcHmacSha256 => {
                HMAC_SHA256_KEY_LEN
            }
            Transform::Aes128Gcm16 | Transform::Aes256Gcm16 => 0,
        }
    }

    /// Total KEYMAT bytes for one direction: the encryption key first, then
    /// the integrity key (RFC 7402 §7).
    pub const fn key_len(self) -> usize {
        self.encryption_key_len() + self.integrity_key_len()
    }

    /// Length of the IV carried in each packet.
    pub const fn iv_len(self) -> usize {
        match self {
            Transform::NullHmacSha256 => 0,
            Transform::Aes128CbcHmacSha256 | Transform::Aes256CbcHmacSha256 => CBC_IV_LEN,
            Transform::Aes128Gcm16 | Transform::Aes256Gcm16 => GCM_IV_LEN,
        }
    }

    /// Length of the ICV the RFCs give this transform.
    pub const fn icv_len(self) -> usize {
        HMAC_SHA256_128_LEN
    }

    /// What payload + padding + trailer must be a multiple of: the cipher
    /// block for CBC, else the 4-byte alignment ESP itself requires
    /// (RFC 4303 §2.4; RFC 4106 §3.2 needs no more for GCM).
    pub const fn block_len(self) -> usize {
        match self {
            Transform::Aes128CbcHmacSha256 | Transform::Aes256CbcHmacSha256 => 16,
            _ => 4,
        }
    }

    /// Offset of the payload in the ESP packet: SPI, sequence number, IV.
    pub const fn payload_offset(self) -> usize {
        HEADER_LEN + self.iv_len()
    }

    /// Padding needed after a payload of `payload_len` bytes.
    pub const fn pad_len(self, payload_len: usize) -> usize {
        let b = self.block_len();
        (b - (payload_len + TRAILER_LEN) % b) % b
    }

    /// Length of the whole ESP packet that carries `payload_len` bytes.
    pub const fn sealed_len(self, payload_len: usize) -> usize {
        self.payload_offset() + payload_len + self.pad_len(payload_len) + TRAILER_LEN + self.icv_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_ids_round_trip() {
        for t in Transform::ALL {
            if let Some(id) = t.suite_id() {
                assert_eq!(Transform::from_suite_id(id), Some(t));
            }
        }
        // RFC 7402 §5.1.2: 1 is AES-128-CBC with HMAC-SHA1, 2-6 deprecated,
        // 12 is GCM with an 8-octet ICV: none implemented here.
        for id in [0, 1, 2, 6, 10, 11, 12, 14, 15] {
            assert_eq!(Transform::from_suite_id(id), None);
        }
    }

    #[test]
    fn keymat_sizes() {
        assert_eq!(Transform::NullHmacSha256.key_len(), 32);
        assert_eq!(Transform::Aes128CbcHmacSha256.key_len(), 48);
        assert_eq!(Transform::Aes256CbcHmacSha256.key_len(), 64);
        assert_eq!(Transform::Aes128Gcm16.key_len(), 20);
        assert_eq!(Transform::Aes256Gcm16.key_len(), 36);
    }

    #[test]
    fn sealed_lengths() {
        // 64-byte ICMPv6 echo, AES-CBC: 64 + 14 padding + 2 = 80, as the
        // third-party capture shows.
        let t = Transform::Aes256CbcHmacSha256;
        assert_eq!(t.pad_len(64), 14);
        assert_eq!(t.sealed_len(64), 8 + 16 + 80 + 16);
        // GCM and NULL only align to 4 bytes.
        assert_eq!(Transform::Aes128Gcm16.pad_len(64), 2);
        assert_eq!(Transform::Aes128Gcm16.pad_len(62), 0);
        assert_eq!(Transform::NullHmacSha256.sealed_len(62), 8 + 64 + 16);
    }
}
