//! Untrusted inputs of hip::crypto: HOST_ID Host Identity fields, SPKI DER,
//! ENCRYPTED contents, DH public values and puzzle solutions must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_proto::hip::crypto::{
    DhGroupId, DhKeyPair, HipCipher, Hit, HitSuite, HostIdPublic, puzzle,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => {
            if rest.len() < 2 {
                return;
            }
            let algorithm = u16::from_be_bytes([rest[0], rest[1]]);
            if let Ok(public) = HostIdPublic::from_host_identity(algorithm, &rest[2..]) {
                // Decoding what we encode gives back the same key.
                let again = HostIdPublic::from_host_identity(algorithm, &public.to_host_identity());
                assert_eq!(again.as_ref(), Ok(&public));
                let _ = Hit::from_host_id(&public);
                let _ = public.verify(b"message", &rest[2..]);
            }
        }
        1 => {
            let _ = HostIdPublic::from_spki_der(rest);
        }
        2 => {
            let key = [0x42u8; 32];
            for cipher in [
                HipCipher::Aes128Cbc,
                HipCipher::Aes256Cbc,
                HipCipher::NullEncrypt,
            ] {
                let _ = cipher.decrypt(&key[..cipher.key_len()], rest);
            }
        }
        3 => {
            let mut rng = |buf: &mut [u8]| buf.fill(0x17);
            for group in [DhGroupId::NistP256, DhGroupId::Modp1536] {
                if let Ok(pair) = DhKeyPair::generate(group, &mut rng) {
                    let _ = pair.shared_secret(rest);
                }
            }
        }
        _ => {
            let hit = Hit([
                0x20, 0x01, 0x00, 0x21, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
            ]);
            let (k, rest) = match rest.split_first() {
                Some((&k, rest)) => (k, rest),
                None => return,
            };
            let half = rest.len() / 2;
            let _ = puzzle::verify(
                HitSuite::RsaDsaSha256,
                &rest[..half],
                &hit,
                &hit,
                k,
                &rest[half..],
            );
        }
    }
});
