//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Used by the NAT (address and port rewrites), by HIP (RFC 7401 §5.1.1,
//! checksum over a pseudo-header) and by tests that check bytes the eBPF
//! datapath wrote.

use core::net::IpAddr;

/// One's-complement sum of `data` as big-endian 16-bit words, folded to 32
/// bits but not complemented. An odd trailing byte is padded with zero.
pub fn sum(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        // Fold early so `acc` can never overflow on large inputs.
        if acc > 0xffff_0000 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

/// Fold a 32-bit accumulator into 16 bits and complement it: the value that
/// goes into a checksum field.
pub fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The checksum of `data` (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data, 0))
}

/// Sum of the transport pseudo-header (RFC 768/793 for IPv4, RFC 8200 §8.1
/// for IPv6; HIP uses the same, RFC 7401 §5.1.1). Both addresses must be of
/// the same family; a mixed pair has no pseudo-header and yields `None`.
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, next_header: u8, len: u32) -> Option<u32> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let acc = sum(&s.octets(), 0);
            let acc = sum(&d.octets(), acc);
            let len = u16::try_from(len).ok()?;
            Some(acc + u32::from(next_header) + u32::from(len))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let acc = sum(&s.octets(), 0);
            let acc = sum(&d.octets(), acc);
            let acc = sum(&len.to_be_bytes(), acc);
            Some(acc + u32::from(next_header))
        }
        _ => None,
    }
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit word of the covered
/// data changes from `old` to `new`: HC' = ~(~HC + ~m + m').
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!check) + u32::from(!old) + u32::from(new);
    finish(acc)
}

/// RFC 1624 update for a changed run of bytes (an address, a port pair):
/// `old` and `new` must have the same even length.
pub fn update(check: u16, old: &[u8], new: &[u8]) -> u16 {
    debug_assert_eq!(old.len(), new.len());
    let mut acc = u32::from(!check);
    for (o, n) in old.chunks(2).zip(new.chunks(2)) {
        let o = u16::from_be_bytes([o[0], *o.get(1).unwrap_or(&0)]);
        let n = u16::from_be_bytes([n[0], *n.get(1).unwrap_or(&0)]);
        acc += u32::from(!o) + u32::from(n);
        acc = (acc & 0xffff) + (acc >> 16);
    }
    finish(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3 example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum(&data, 0)), !0xddf2);
    }

    /// A real IPv4 header (checksum 0xb861 is the textbook example).
    #[test]
    fn ipv4_header() {
        let mut h = hex_bytes("450000730000400040110000c0a80001c0a800c7");
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&h), 0);
    }

    /// Incremental update equals recomputation for every kind of change
    /// the NAT makes: addresses and ports, including the 0x0000/0xffff
    /// corner RFC 1624 §3 was written for.
    #[test]
    fn incremental_matches_full() {
        let mut h = hex_bytes("450000730000400040110000c0a80001c0a800c7");
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        for new_dst in [[10u8, 0, 0, 1], [0, 0, 0, 0], [255, 255, 255, 255], [0xc0, 0xa8, 0, 0xc7]] {
            let mut n = h.clone();
            let old = n[16..20].to_vec();
            n[16..20].copy_from_slice(&new_dst);
            let inc = update(c, &old, &new_dst);
            n[10..12].copy_from_slice(&[0, 0]);
            let full = checksum(&n);
            // 0x0000 and 0xffff are the same one's-complement value.
            assert!(
                inc == full || (inc == 0xffff && full == 0) || (inc == 0 && full == 0xffff),
                "{new_dst:?}: inc {inc:#06x} full {full:#06x}"
            );
        }
    }

    /// RFC 1624 §4 worked example: HC = 0xDD2F, m = 0x5555 -> m' = 0x3285
    /// gives HC' = 0x0000.
    #[test]
    fn rfc1624_example() {
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn pseudo_header_family_mismatch() {
        use core::net::{Ipv4Addr, Ipv6Addr};
        assert!(pseudo_header_sum(Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into(), 6, 20).is_none());
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
