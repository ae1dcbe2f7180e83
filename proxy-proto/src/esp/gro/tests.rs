use super::*;
use crate::esp::gso::{TcpGso, VirtioNetHdr};

fn super_packet(v6: bool, n: usize, flags: u8) -> Vec<u8> {
    let ip = if v6 { 40 } else { 20 };
    let mut p = vec![0u8; ip + 20 + n];
    if v6 {
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((20 + n) as u16).to_be_bytes());
        p[6] = 6;
        p[7] = 64;
        p[23] = 0xa;
        p[39] = 0xb;
    } else {
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((ip + 20 + n) as u16).to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    }
    p[ip + 4..ip + 8].copy_from_slice(&1000u32.to_be_bytes());
    p[ip + 12] = 5 << 4;
    p[ip + 13] = flags;
    for (i, b) in p[ip + 20..].iter_mut().enumerate() {
        *b = (i * 13) as u8;
    }
    p
}

fn segments(p: &[u8], mss: u16) -> Vec<Vec<u8>> {
    let g = TcpGso::parse(p, mss).unwrap();
    (0..g.count())
        .map(|k| {
            let mut b = vec![0u8; 2000];
            let n = g.write(k, &mut b).unwrap();
            b.truncate(n);
            b
        })
        .collect()
}

#[test]
fn cut_then_coalesced_is_the_original() {
    for v6 in [false, true] {
        let p = super_packet(v6, 5000, TCP_ACK | TCP_PSH);
        let mut c = Coalescer::default();
        for s in segments(&p, 1200) {
            assert!(c.push(&s));
        }
        let out = c.take().unwrap().to_vec();
        let h = VirtioNetHdr::parse(&out).unwrap();
        assert_eq!((h.gso_type, h.gso_size, h.flags), (if v6 { GSO_TCPV6 } else { GSO_TCPV4 }, 1200, F_NEEDS_CSUM));
        let ip = if v6 { 40 } else { 20 };
        let pkt = &out[VIRTIO_NET_HDR_LEN..];
        assert_eq!(pkt.len(), p.len());
        assert_eq!(&pkt[ip + 20..], &p[ip + 20..], "payload in order");
        assert_eq!(pkt[ip + 13], TCP_ACK | TCP_PSH);
        if !v6 {
            assert_eq!(checksum::checksum(&pkt[..20]), 0);
        }
        assert!(c.is_empty() && c.take().is_none());
    }
}

#[test]
fn runs_break_where_they_must() {
    let p = super_packet(false, 3000, TCP_ACK);
    let segs = segments(&p, 1000);
    let mut c = Coalescer::default();
    // A gap in sequence numbers.
    assert!(c.push(&segs[0]));
    assert!(!c.push(&segs[2]));
    // Another flow (port).
    let mut other = segs[1].clone();
    other[20] ^= 1;
    assert!(!c.push(&other));
    // A SYN never starts or joins a run; a lone segment goes out unchanged.
    let syn = super_packet(false, 10, 0x02);
    assert!(!c.push(&syn));
    let single = c.take().unwrap();
    assert_eq!(VirtioNetHdr::parse(single).unwrap(), VirtioNetHdr::default());
    assert_eq!(&single[VIRTIO_NET_HDR_LEN..], &segs[0][..]);
    // After a short segment the run is over.
    let short = super_packet(false, 500, TCP_ACK);
    let s2 = segments(&short, 1000);
    assert!(c.push(&s2[0]));
    let mut next = segs[0].clone();
    next[24..28].copy_from_slice(&1500u32.to_be_bytes());
    assert!(!c.push(&next));
    // Garbage never joins (short headers: found by the esp_offload fuzz target).
    assert!(!c.push(&[0x45, 0, 0]));
    assert!(!c.push(&[0x45, 0, 0, 8, 0, 0, 0, 0]));
    assert!(!c.push(&[0x60; 39]));
    assert!(!c.push(&[]));
}
