//! AES-GCM ESP known answers (draft-mcgrew-gcm-test-01, RFC 4106 layout),
//! through the public cipher API exactly as the SA lays packets out.

use proxy_proto::esp::{DropReason, EspCipher, Trailer, Transform};

struct Case {
    key: Vec<u8>,
    nonce: Vec<u8>,
    aad: Vec<u8>,
    pt: Vec<u8>,
    ct: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/esp/esp-aes-gcm-vectors.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let h = |c: &serde_json::Value, k: &str| hex::decode(c[k].as_str().unwrap()).unwrap();
    let cases: Vec<Case> = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case { key: h(c, "key"), nonce: h(c, "nonce"), aad: h(c, "aad"), pt: h(c, "pt"), ct: h(c, "ct") })
        .collect();
    assert_eq!(cases.len(), 3, "every case of the file");
    cases
}

impl Case {
    fn cipher(&self) -> EspCipher {
        let t = match self.key.len() {
            16 => Transform::Aes128Gcm16,
            32 => Transform::Aes256Gcm16,
            n => panic!("key length {n}"),
        };
        // KEYMAT order (RFC 4106 §8.1): AES key, then the 4-byte salt.
        let mut keymat = self.key.clone();
        keymat.extend_from_slice(&self.nonce[..4]);
        EspCipher::new(t, &keymat).unwrap()
    }

    /// The ESN high half if the AAD is SPI || ESN high || ESN low.
    fn esn_high(&self) -> Option<u32> {
        match self.aad.len() {
            8 => None,
            12 => Some(u32::from_be_bytes(self.aad[4..8].try_into().unwrap())),
            n => panic!("AAD length {n}"),
        }
    }

    /// SPI || seq (low 32 bits) || explicit IV || rest.
    fn packet(&self, body: &[u8]) -> Vec<u8> {
        let mut pkt = self.aad[..4].to_vec();
        pkt.extend_from_slice(&self.aad[self.aad.len() - 4..]);
        pkt.extend_from_slice(&self.nonce[4..]);
        pkt.extend_from_slice(body);
        pkt
    }
}

#[test]
fn seal_gives_exactly_the_ciphertext() {
    for (i, c) in cases().iter().enumerate() {
        let mut pkt = c.packet(&c.pt);
        pkt.extend_from_slice(&[0u8; 16]);
        c.cipher().seal_in_place(&mut pkt, c.esn_high()).unwrap();
        assert_eq!(hex::encode(&pkt[16..]), hex::encode(&c.ct), "case {i}");
    }
}

#[test]
fn open_gives_exactly_the_plaintext() {
    for (i, c) in cases().iter().enumerate() {
        let mut pkt = c.packet(&c.ct);
        let range = c.cipher().open_in_place(&mut pkt, c.esn_high()).unwrap();
        assert_eq!(range, 16..16 + c.pt.len());
        assert_eq!(hex::encode(&pkt[range.clone()]), hex::encode(&c.pt), "case {i}");
        // The plaintext ends with a well-formed RFC 4303 trailer.
        let (trailer, len) = Trailer::parse(&pkt[range]).unwrap();
        assert_eq!(len + usize::from(trailer.pad_len) + 2, c.pt.len());
    }
}

#[test]
fn every_bit_flip_is_caught() {
    for c in cases() {
        let good = c.packet(&c.ct);
        for byte in 0..good.len() {
            let mut pkt = good.clone();
            pkt[byte] ^= 1;
            assert_eq!(c.cipher().open_in_place(&mut pkt, c.esn_high()), Err(DropReason::BadIcv), "byte {byte}");
        }
        // A wrong ESN high half is caught too: it is authenticated.
        let mut pkt = good.clone();
        let wrong = Some(c.esn_high().map_or(1, |h| h ^ 1));
        assert_eq!(c.cipher().open_in_place(&mut pkt, wrong), Err(DropReason::BadIcv));
    }
}
