//! Incremental checksum update (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
//!
//! A `Delta` collects the changed words of one rewrite; `apply` then
//! updates any checksum that covers them: the IPv4 header checksum (the
//! addresses), a TCP/UDP/ICMPv6 checksum (pseudo-header addresses and the
//! port), an ICMP error's checksum (the embedded header it covers).
//!
//! Words are raw packet-order loads (see `proxy_ebpf::load16`): the
//! one's-complement sum is byte-order independent (RFC 1071 §2(B)), and a
//! 32-bit word contributes the same as its two 16-bit halves, so addresses
//! are summed four bytes at a time with no byte arrays on the BPF stack.

use proxy_common::Addr16;

#[inline(always)]
fn fold64(mut s: u64) -> u32 {
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    let mut t = s as u32;
    t = (t & 0xffff) + (t >> 16);
    (t & 0xffff) + (t >> 16)
}

#[derive(Clone, Copy, Default)]
pub struct Delta(u64);

impl Delta {
    #[inline(always)]
    pub fn word(&mut self, old: u16, new: u16) {
        self.0 += u64::from(!old) + u64::from(new);
    }

    #[inline(always)]
    pub fn word32(&mut self, old: u32, new: u32) {
        self.0 += u64::from(!old) + u64::from(new);
    }

    #[inline(always)]
    pub fn bytes4(&mut self, old: &[u8; 4], new: &[u8; 4]) {
        self.word32(u32::from_ne_bytes(*old), u32::from_ne_bytes(*new));
    }

    #[inline(always)]
    pub fn bytes16(&mut self, old: &Addr16, new: &Addr16) {
        let o = unsafe { core::mem::transmute::<Addr16, [u32; 4]>(*old) };
        let n = unsafe { core::mem::transmute::<Addr16, [u32; 4]>(*new) };
        self.word32(o[0], n[0]);
        self.word32(o[1], n[1]);
        self.word32(o[2], n[2]);
        self.word32(o[3], n[3]);
    }

    #[inline(always)]
    pub fn add(&mut self, other: Delta) {
        self.0 += u64::from(fold64(other.0));
    }

    /// The checksum field's new value.
    #[inline(always)]
    pub fn apply(&self, check: u16) -> u16 {
        !(fold64(u64::from(!check) + self.0) as u16)
    }
}
