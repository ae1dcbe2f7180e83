//! Shared helpers of the XDP/TC programs: bounds-checked packet access.
#![no_std]

use aya_ebpf::programs::XdpContext;

/// A pointer to `len` bytes at `offset` into the packet, or `None` when the
/// packet is shorter. Every packet access goes through this so the verifier
/// sees a bounds check before each load or store.
#[inline(always)]
pub fn ptr_at(ctx: &XdpContext, offset: usize, len: usize) -> Option<*mut u8> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + len > end {
        return None;
    }
    Some((start + offset) as *mut u8)
}

// Word-sized loads and stores. The BPF backend lowers `read_unaligned` to
// byte loads plus shifts, which on 16-byte addresses spills registers and
// blows the 512-byte stack; the verifier (no strict alignment on x86-64,
// where this datapath runs) and the JIT accept word access at any packet
// or map offset, so these use plain word loads, as eBPF C code does. The
// fields they touch (IP addresses, ports, checksums) sit at 2-byte
// offsets from a frame start that XDP keeps at least 2-byte aligned.

/// Read a `u16` exactly as it sits in the packet (no byte swap). The
/// Internet checksum is byte-order independent (RFC 1071 §2(B)), so the
/// datapath does all its checksum arithmetic on these raw words.
///
/// # Safety
/// `p` must point at 2 readable bytes (checked with [`ptr_at`]).
#[inline(always)]
pub unsafe fn load16(p: *const u8) -> u16 {
    unsafe { core::ptr::read_volatile(p as *const u16) }
}

/// # Safety
/// `p` must point at 2 writable bytes (checked with [`ptr_at`]).
#[inline(always)]
pub unsafe fn store16(p: *mut u8, v: u16) {
    unsafe { core::ptr::write_volatile(p as *mut u16, v) }
}

/// # Safety
/// `p` must point at 4 readable bytes.
#[inline(always)]
pub unsafe fn load32(p: *const u8) -> u32 {
    unsafe { core::ptr::read_volatile(p as *const u32) }
}

/// # Safety
/// `p` must point at 4 writable bytes.
#[inline(always)]
pub unsafe fn store32(p: *mut u8, v: u32) {
    unsafe { core::ptr::write_volatile(p as *mut u32, v) }
}

/// Copy a 16-byte address out of the packet, four bytes at a time.
///
/// # Safety
/// `p` must point at 16 readable bytes.
#[inline(always)]
pub unsafe fn load_addr16(p: *const u8) -> [u8; 16] {
    unsafe {
        let w = [load32(p), load32(p.add(4)), load32(p.add(8)), load32(p.add(12))];
        core::mem::transmute::<[u32; 4], [u8; 16]>(w)
    }
}

/// # Safety
/// `p` must point at 16 writable bytes.
#[inline(always)]
pub unsafe fn store_addr16(p: *mut u8, a: &[u8; 16]) {
    unsafe {
        let w = core::mem::transmute::<[u8; 16], [u32; 4]>(*a);
        store32(p, w[0]);
        store32(p.add(4), w[1]);
        store32(p.add(8), w[2]);
        store32(p.add(12), w[3]);
    }
}
