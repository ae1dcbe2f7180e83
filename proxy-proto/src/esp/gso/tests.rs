use super::*;

/// A TCP super-packet with `n` payload bytes, flags PSH|FIN|CWR|ACK.
fn super_packet(v6: bool, n: usize) -> Vec<u8> {
    let ip = if v6 { 40 } else { 20 };
    let mut p = vec![0u8; ip + 20 + n];
    if v6 {
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((20 + n) as u16).to_be_bytes());
        p[6] = 6;
        p[7] = 64;
        p[8..24].copy_from_slice(&"2001:20::a".parse::<Ipv6Addr>().unwrap().octets());
        p[24..40].copy_from_slice(&"2001:20::b".parse::<Ipv6Addr>().unwrap().octets());
    } else {
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((ip + 20 + n) as u16).to_be_bytes());
        p[4..6].copy_from_slice(&0xfffeu16.to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    }
    p[ip..ip + 2].copy_from_slice(&1234u16.to_be_bytes());
    p[ip + 2..ip + 4].copy_from_slice(&80u16.to_be_bytes());
    p[ip + 4..ip + 8].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    p[ip + 12] = 5 << 4;
    p[ip + 13] = TCP_FIN | TCP_PSH | TCP_CWR | 0x10;
    for (i, b) in p[ip + 20..].iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    p
}

fn verify_tcp(seg: &[u8], v6: bool) {
    let ip = if v6 { 40 } else { 20 };
    let (s, d): (IpAddr, IpAddr) = if v6 {
        ("2001:20::a".parse().unwrap(), "2001:20::b".parse().unwrap())
    } else {
        ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())
    };
    let ph = checksum::pseudo_header_sum(s, d, 6, (seg.len() - ip) as u32).unwrap();
    assert_eq!(checksum::finish(checksum::sum(&seg[ip..], ph)), 0, "TCP checksum verifies");
    if !v6 {
        assert_eq!(checksum::checksum(&seg[..20]), 0, "IPv4 header checksum verifies");
        assert_eq!(usize::from(u16::from_be_bytes([seg[2], seg[3]])), seg.len());
    } else {
        assert_eq!(usize::from(u16::from_be_bytes([seg[4], seg[5]])), seg.len() - 40);
    }
}

#[test]
fn cuts_super_packets_into_valid_segments() {
    for v6 in [false, true] {
        let p = super_packet(v6, 3000);
        let g = TcpGso::parse(&p, 1300).unwrap();
        assert_eq!(g.count(), 3);
        let ip = if v6 { 40 } else { 20 };
        let mut joined = Vec::new();
        for k in 0..3 {
            let mut buf = [0u8; 2000];
            let n = g.write(k, &mut buf).unwrap();
            let seg = &buf[..n];
            verify_tcp(seg, v6);
            let seq = u32::from_be_bytes(seg[ip + 4..ip + 8].try_into().unwrap());
            assert_eq!(seq, 0xffff_fff0u32.wrapping_add(k as u32 * 1300), "sequence wraps");
            let flags = seg[ip + 13];
            assert_eq!(flags & (TCP_FIN | TCP_PSH) != 0, k == 2, "FIN/PSH only on the last");
            assert_eq!(flags & TCP_CWR != 0, k == 0, "CWR only on the first");
            if !v6 {
                assert_eq!(u16::from_be_bytes([seg[4], seg[5]]), 0xfffeu16.wrapping_add(k as u16));
            }
            joined.extend_from_slice(&seg[ip + 20..]);
        }
        assert_eq!(joined, &p[ip + 20..]);
    }
}

#[test]
fn refuses_what_it_cannot_cut() {
    let p = super_packet(false, 100);
    assert_eq!(TcpGso::parse(&p, 0).unwrap_err(), GsoError::ZeroMss);
    assert_eq!(TcpGso::parse(&p[..30], 100).unwrap_err(), GsoError::Truncated);
    let mut udp = p.clone();
    udp[9] = 17;
    assert_eq!(TcpGso::parse(&udp, 100).unwrap_err(), GsoError::Unsupported);
    assert_eq!(TcpGso::parse(&[], 100).unwrap_err(), GsoError::Truncated);
    let g = TcpGso::parse(&p, 50).unwrap();
    assert_eq!(g.write(0, &mut [0u8; 60]).unwrap_err(), GsoError::NoRoom);
}

#[test]
fn finishes_partial_checksums() {
    let mut p = super_packet(true, 500);
    // What the kernel leaves: the pseudo-header sum, not complemented.
    let ph = checksum::pseudo_header_sum("2001:20::a".parse().unwrap(), "2001:20::b".parse().unwrap(), 6, 520).unwrap();
    let folded = !checksum::finish(ph);
    p[56..58].copy_from_slice(&folded.to_be_bytes());
    finish_partial_checksum(&mut p, 40, 16).unwrap();
    verify_tcp(&p, true);
    assert_eq!(finish_partial_checksum(&mut p, 40, 600), Err(GsoError::BadOffsets));
}

#[test]
fn parses_the_header_little_endian() {
    let h = VirtioNetHdr::parse(&[1, 4, 74, 0, 0x14, 0x05, 40, 0, 16, 0]).unwrap();
    assert_eq!(h, VirtioNetHdr { flags: 1, gso_type: 4, hdr_len: 74, gso_size: 1300, csum_start: 40, csum_offset: 16 });
    assert_eq!(VirtioNetHdr::parse(&[0; 9]), None);
}

#[test]
fn fast_sum_equals_the_reference_sum() {
    let data: Vec<u8> = (0..3000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    for len in [0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1399, 1400, 3000] {
        for acc in [0, 0x1234, 0xfffe_0001] {
            let d = &data[..len];
            assert_eq!(
                checksum::finish(fast_sum(d, acc)),
                checksum::finish(checksum::sum(d, acc)),
                "len {len} acc {acc:#x}"
            );
        }
    }
    let ones = [0xffu8; 1501];
    assert_eq!(checksum::finish(fast_sum(&ones, 0)), checksum::finish(checksum::sum(&ones, 0)));
}
