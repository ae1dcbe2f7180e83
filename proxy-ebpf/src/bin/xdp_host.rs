//! `xdp_host`: the `host` role's receive steering (issue 5). ESP whose SPI
//! is one of the host's inbound SAs goes to the AF_XDP socket of its
//! receive queue, where the host's ESP receive worker opens it; everything
//! else, and ESP on a queue with no socket bound (`xsk_missing`), passes
//! to the kernel (the raw-socket path still opens it).
//!
//! The steering is the proxy's own (`xsk_steer.rs`, included here, not
//! copied) with its substitute half compiled out. An object of its own with
//! unpinned maps: each attached interface has its own sockets and SPI set,
//! and a host next to a proxy shares nothing with it.
#![no_std]
#![no_main]
#![allow(clippy::needless_borrows_for_generic_args)]

#[path = "../xsk_steer.rs"]
mod xsk_steer;

/// What `xsk_steer` counts with; the proxy's `maps.rs` pins its maps, this
/// one is the host's own.
mod maps {
    use aya_ebpf::{macros::map, maps::PerCpuArray};
    use proxy_common::counters::Counter;

    #[map]
    pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT, 0);

    #[inline(always)]
    pub fn count(c: Counter) {
        if let Some(p) = COUNTERS.get_ptr_mut(c as u32) {
            // Per-CPU slot: no other CPU writes it.
            unsafe { *p += 1 };
        }
    }
}

use aya_ebpf::{bindings::xdp_action::XDP_PASS, macros::xdp, programs::XdpContext};

#[xdp]
pub fn xdp_host(ctx: XdpContext) -> u32 {
    match xsk_steer::steer::<false>(&ctx) {
        xsk_steer::NOT_STEERED => XDP_PASS,
        action => action,
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
