use super::*;

/// Deterministic "randomness" so sealed bytes are reproducible.
fn counter_rng() -> impl FnMut(&mut [u8]) {
    let mut n = 0u8;
    move |buf: &mut [u8]| {
        for b in buf {
            n = n.wrapping_add(1);
            *b = n;
        }
    }
}

fn keymat(t: Transform) -> Vec<u8> {
    (0..t.key_len()).map(|i| (i as u8).wrapping_mul(7).wrapping_add(3)).collect()
}

fn pair(t: Transform) -> (OutboundSa, InboundSa) {
    let spi = 0x1000_0001;
    (
        OutboundSa::new(spi, EspCipher::new(t, &keymat(t)).unwrap()),
        InboundSa::new(spi, EspCipher::new(t, &keymat(t)).unwrap()),
    )
}

/// Seal `payload` with next header `nh`, return the ESP packet.
fn seal(out: &mut OutboundSa, payload: &[u8], nh: u8) -> Vec<u8> {
    let mut buf = vec![0u8; out.sealed_len(payload.len())];
    let off = out.payload_offset();
    buf[off..off + payload.len()].copy_from_slice(payload);
    let len = out.seal(&mut buf, payload.len(), nh, &mut counter_rng()).unwrap();
    assert_eq!(len, buf.len());
    buf
}

#[test]
fn round_trip_every_transform_and_length() {
    for t in Transform::ALL {
        let (mut out, mut inb) = pair(t);
        for len in [1usize, 2, 3, 15, 16, 17, 62, 64, 1400] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let mut pkt = seal(&mut out, &payload, 17);
            // The payload is not sent in the clear, except with NULL.
            let off = t.payload_offset();
            if t != Transform::NullHmacSha256 {
                assert_ne!(&pkt[off..off + len], &payload[..], "{t:?}");
            } else {
                assert_eq!(&pkt[off..off + len], &payload[..]);
            }
            let opened = inb.open(&mut pkt).unwrap();
            assert_eq!(opened.next_header, 17);
            assert_eq!(&pkt[opened.payload.clone()], &payload[..], "{t:?} {len}");
            assert_eq!(opened.payload.start, off);
        }
        assert_eq!(out.counters().packets, 9);
        assert_eq!(inb.counters().packets, 9);
        assert_eq!(inb.counters().bytes, out.counters().bytes);
        assert_eq!(inb.window().top(), 9);
    }
}

#[test]
fn header_and_iv_layout() {
    let (mut out, _) = pair(Transform::Aes128Gcm16);
    let _ = seal(&mut out, b"abcd", 6);
    let pkt = seal(&mut out, b"abcd", 6);
    assert_eq!(pkt[..4], 0x1000_0001u32.to_be_bytes());
    assert_eq!(pkt[4..8], 2u32.to_be_bytes());
    // RFC 4106 §3.1: the explicit IV is the 64-bit counter.
    assert_eq!(pkt[8..16], 2u64.to_be_bytes());
    assert_eq!(pkt.len(), 8 + 8 + 4 + 2 + 2 + 16);

    let (mut out, _) = pair(Transform::Aes128CbcHmacSha256);
    let pkt = seal(&mut out, b"abcd", 6);
    // CBC IV comes from the injected RNG.
    assert_eq!(pkt[8..24], (1..=16).collect::<Vec<u8>>()[..]);
    assert_eq!(pkt.len(), 8 + 16 + 16 + 16);
}

#[test]
fn tampering_is_rejected_and_window_unchanged() {
    for t in Transform::ALL {
        let (mut out, mut inb) = pair(t);
        let good = seal(&mut out, b"tampering test payload", 6);
        let icv_at = good.len() - t.icv_len();
        let cases = [
            ("ciphertext", t.payload_offset() + 1, DropReason::BadIcv),
            ("icv", icv_at + 3, DropReason::BadIcv),
            ("last icv byte", good.len() - 1, DropReason::BadIcv),
            ("seq", 7, DropReason::BadIcv),
            ("spi", 0, DropReason::WrongSpi(0x9000_0001)),
        ];
        let cases = cases.into_iter().chain((t.iv_len() > 0).then_some(("iv", 9, DropReason::BadIcv)));
        for (what, at, want) in cases {
            let mut pkt = good.clone();
            pkt[at] ^= 0x80;
            let before = inb.window().clone();
            assert_eq!(inb.open(&mut pkt), Err(want), "{t:?} {what}");
            assert_eq!(inb.window(), &before, "{t:?} {what}");
        }
        assert_eq!(inb.counters().drops.bad_icv, if t.iv_len() > 0 { 5 } else { 4 });
        assert_eq!(inb.counters().drops.wrong_spi, 1);
        // The genuine packet still opens afterwards.
        let mut pkt = good.clone();
        assert!(inb.open(&mut pkt).is_ok());
    }
}

#[test]
fn replay_is_rejected() {
    let (mut out, mut inb) = pair(Transform::Aes128Gcm16);
    let p1 = seal(&mut out, b"one!", 17);
    let p2 = seal(&mut out, b"two!", 17);
    assert!(inb.open(&mut p2.clone()).is_ok());
    assert!(inb.open(&mut p1.clone()).is_ok(), "late but inside the window");
    assert_eq!(inb.open(&mut p1.clone()), Err(DropReason::Replay(1)));
    assert_eq!(inb.open(&mut p2.clone()), Err(DropReason::Replay(2)));
    assert_eq!(inb.counters().drops.replay, 2);
    assert_eq!(inb.counters().packets, 2);
}

#[test]
fn truncated_packets() {
    for t in Transform::ALL {
        let (mut out, mut inb) = pair(t);
        let good = seal(&mut out, b"x", 6);
        for n in 0..good.len() {
            let mut pkt = good[..n].to_vec();
            let err = inb.open(&mut pkt).unwrap_err();
            assert!(matches!(err, DropReason::Truncated | DropReason::BadIcv), "{t:?} {n}: {err:?}");
        }
        assert_eq!(inb.window().top(), 0);
    }
}

#[test]
fn sequence_exhaustion_refuses_to_wrap() {
    let (mut out, _) = pair(Transform::NullHmacSha256);
    out.set_last_sequence_number(u32::MAX - 1);
    let pkt = seal(&mut out, b"last", 6);
    assert_eq!(pkt[4..8], u32::MAX.to_be_bytes());
    assert_eq!(out.poll_event(), Some(SaEvent::SequenceExhausted { spi: 0x1000_0001 }));
    let mut buf = vec![0u8; 64];
    assert_eq!(out.seal(&mut buf, 4, 6, &mut counter_rng()), Err(SealError::SequenceExhausted));
    assert_eq!(out.counters().packets, 1);
}

#[test]
fn soft_limit_asks_for_rekey_once() {
    let (out, _) = pair(Transform::Aes128Gcm16);
    let mut out = out.with_soft_limit(3);
    let _ = seal(&mut out, b"aaaa", 6);
    let _ = seal(&mut out, b"aaaa", 6);
    assert_eq!(out.poll_event(), None);
    let _ = seal(&mut out, b"aaaa", 6);
    assert_eq!(out.poll_event(), Some(SaEvent::RekeyNeeded { spi: 0x1000_0001 }));
    let _ = seal(&mut out, b"aaaa", 6);
    assert_eq!(out.poll_event(), None);
}

#[test]
fn buffer_too_small() {
    let (mut out, _) = pair(Transform::Aes256CbcHmacSha256);
    let mut buf = vec![0u8; 55];
    assert_eq!(
        out.seal(&mut buf, 10, 6, &mut counter_rng()),
        Err(SealError::BufferTooSmall { needed: 56, available: 55 })
    );
    // A failed seal does not use up a sequence number.
    let pkt = seal(&mut out, b"x", 6);
    assert_eq!(pkt[4..8], 1u32.to_be_bytes());
}

#[test]
fn next_header_policy() {
    let (mut out, mut inb) = pair(Transform::Aes128Gcm16);
    let mut tunnel = seal(&mut out, b"ipv6", 41);
    assert_eq!(inb.open(&mut tunnel), Err(DropReason::UnknownNextHeader(41)));
    let mut dummy = seal(&mut out, b"", 59);
    assert_eq!(inb.open(&mut dummy), Err(DropReason::Dummy));
    let c = inb.counters();
    assert_eq!((c.drops.unknown_next_header, c.drops.dummy, c.packets), (1, 1, 0));
    // Both were authentic, so the window moved past them.
    assert_eq!(inb.window().top(), 2);
}

#[test]
fn bad_padding_after_valid_icv() {
    // Hand-build a NULL packet whose padding is wrong but whose ICV is
    // valid, as a buggy peer would send.
    let t = Transform::NullHmacSha256;
    let cipher = EspCipher::new(t, &keymat(t)).unwrap();
    let mut pkt = vec![0u8; 8 + 8 + 16];
    pkt[..4].copy_from_slice(&0x1000_0001u32.to_be_bytes());
    pkt[4..8].copy_from_slice(&1u32.to_be_bytes());
    pkt[8..16].copy_from_slice(&[0xaa, 0xbb, 0xcc, 1, 7, 3, 3, 6]);
    cipher.seal_in_place(&mut pkt, None).unwrap();
    let (_, mut inb) = pair(t);
    assert_eq!(inb.open(&mut pkt), Err(DropReason::BadPadding));
    assert_eq!(inb.counters().drops.bad_padding, 1);
}
