//! The VPN's tunnel-mode inbound SA (the ESP engine's
//! `esp::tunnel::open_tunnel_packet` on an `InboundSa` in tunnel mode)
//! never panics on any input. (Re-establishment is a HIP base exchange:
//! the `hip_*` targets cover its parsers.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_proto::esp::{EspCipher, InboundSa, Mode, Transform, tunnel::open_tunnel_packet};

fuzz_target!(|data: &[u8]| {
    let mut sa = InboundSa::new(
        u32::from_be_bytes([data.first().copied().unwrap_or(0), 0, 0x10, 0]),
        EspCipher::new(Transform::Aes128Gcm16, &[7u8; 20]).unwrap(),
    )
    .with_mode(Mode::Tunnel);
    let mut pkt = data.to_vec();
    let len = pkt.len();
    if let Ok(inner) = open_tunnel_packet(&mut sa, &mut pkt, 0..len) {
        assert!(inner.end <= len);
    }
});
