//! Arbitrary bytes never panic the TUN offload code: the virtio-net header
//! parser, TSO segmentation (every segment must fit and re-coalesce), the
//! partial checksum finisher and the receive coalescer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_proto::esp::gro::Coalescer;
use proxy_proto::esp::gso::{TcpGso, VirtioNetHdr, finish_partial_checksum};

fuzz_target!(|data: &[u8]| {
    let Some(h) = VirtioNetHdr::parse(data) else {
        return;
    };
    let pkt = &data[10..];
    let mut copy = pkt.to_vec();
    let _ = finish_partial_checksum(&mut copy, h.csum_start.into(), h.csum_offset.into());
    let mut gro = Coalescer::default();
    if let Ok(g) = TcpGso::parse(pkt, h.gso_size) {
        let mut out = vec![0u8; 65536 + 64];
        for k in 0..g.count().min(64) {
            if let Ok(n) = g.write(k, &mut out) {
                if !gro.push(&out[..n]) {
                    let _ = gro.take();
                    let _ = gro.push(&out[..n]);
                }
            }
        }
    }
    // Raw bytes straight into the coalescer too.
    if !gro.push(pkt) {
        let _ = gro.take();
        let _ = gro.push(pkt);
    }
    let _ = gro.take();
});
