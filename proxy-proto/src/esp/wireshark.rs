//! Wireshark's ESP SA table (`esp_sa` in the Wireshark profile directory,
//! `~/.config/wireshark/esp_sa`), so operators can decrypt captures.
//!
//! A record has eight quoted, comma-separated fields (epan/dissectors/
//! packet-ipsec.c, `esp_uat_flds`): protocol, source, destination, SPI,
//! encryption algorithm, encryption key, authentication algorithm,
//! authentication key. Algorithms are given by their display names; keys in
//! hex with a `0x` prefix. For AES-GCM Wireshark takes the RFC 4106 salt as
//! the last four key bytes, as KEYMAT lays them out.

use core::fmt::Write as _;
use core::net::IpAddr;

use super::transform::Transform;

/// The `esp_sa` line for one SA direction. `keymat` is what the SA was keyed
/// with ([`Transform::key_len`] bytes: encryption key then integrity key);
/// a wrong length yields `None`.
pub fn wireshark_esp_sa_line(
    src: IpAddr,
    dst: IpAddr,
    spi: u32,
    transform: Transform,
    keymat: &[u8],
) -> Option<String> {
    if keymat.len() != transform.key_len() {
        return None;
    }
    let (enc_key, auth_key) = keymat.split_at(transform.encryption_key_len());
    let protocol = if src.is_ipv4() { "IPv4" } else { "IPv6" };
    let (encryption, authentication) = match transform {
        Transform::NullHmacSha256 => ("NULL", "HMAC-SHA-256-128 [RFC4868]"),
        Transform::Aes128CbcHmacSha256 | Transform::Aes256CbcHmacSha256 => {
            ("AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]")
        }
        Transform::Aes128Gcm16 | Transform::Aes256Gcm16 => ("AES-GCM with 16 octet ICV [RFC4106]", "NULL"),
    };
    Some(format!(
        "\"{protocol}\",\"{src}\",\"{dst}\",\"{spi:#010x}\",\"{encryption}\",\"{}\",\"{authentication}\",\"{}\"",
        hex_key(enc_key),
        hex_key(auth_key),
    ))
}

/// `0x`-prefixed hex, or the empty string for no key (Wireshark's "none").
fn hex_key(key: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * key.len());
    if !key.is_empty() {
        s.push_str("0x");
        for b in key {
            let _ = write!(s, "{b:02x}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcm_line() {
        let keymat: Vec<u8> = (1..=20).collect();
        let line = wireshark_esp_sa_line(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            0x1234,
            Transform::Aes128Gcm16,
            &keymat,
        )
        .unwrap();
        assert_eq!(
            line,
            "\"IPv4\",\"10.0.0.1\",\"10.0.0.2\",\"0x00001234\",\"AES-GCM with 16 octet ICV [RFC4106]\",\
             \"0x0102030405060708090a0b0c0d0e0f1011121314\",\"NULL\",\"\""
        );
    }

    #[test]
    fn hmac_line_splits_keys() {
        let keymat: Vec<u8> = (0..32).collect();
        let line = wireshark_esp_sa_line(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            0xdeadbeef,
            Transform::NullHmacSha256,
            &keymat,
        )
        .unwrap();
        assert!(line.starts_with("\"IPv6\",\"2001:db8::1\",\"2001:db8::2\",\"0xdeadbeef\",\"NULL\",\"\",\"HMAC-SHA-256-128 [RFC4868]\",\"0x000102"));
        assert!(
            wireshark_esp_sa_line(
                "10.0.0.1".parse().unwrap(),
                "10.0.0.2".parse().unwrap(),
                1,
                Transform::NullHmacSha256,
                &keymat[1..]
            )
            .is_none()
        );
    }
}
