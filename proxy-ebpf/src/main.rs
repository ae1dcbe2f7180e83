//! The proxy's XDP datapath: substitute-address NAT with port translation.
//!
//! `xdp_proxy` is attached to the LAN- and WAN-facing interfaces (they may
//! be one interface). Per packet, from BPF maps only:
//! - legacy host -> substitute address: find or create the NAT flow,
//!   rewrite (legacy, sport, substitute, dport) to (proxy, nat port, peer,
//!   dport), forward;
//! - peer -> proxy nat port: rewrite back to (substitute, dport, legacy,
//!   sport), forward; ICMP errors about a translated flow are translated
//!   too, inner header included, so path-MTU discovery keeps working;
//! - anything else passes untouched to the kernel.
//!
//! Before all that, packets of established ESP associations (to a
//! substitute with an SA pair, or ESP with a known SPI) are steered to
//! the AF_XDP ESP workers (xsk_steer.rs).
#![no_std]
#![no_main]
// Map keys are passed by reference on purpose: by value (what this lint
// suggests) would copy them onto the 512-byte BPF stack.
#![allow(clippy::needless_borrows_for_generic_args)]

mod csum;
mod dns_steer;
mod fib;
mod flow;
mod icmp_error;
mod maps;
mod packet;
mod xsk_steer;

use aya_ebpf::{macros::xdp, programs::XdpContext};
use proxy_common::counters::Counter;

use crate::maps::{count, verdict};

#[xdp]
pub fn xdp_proxy(ctx: XdpContext) -> u32 {
    count(Counter::RxPackets);
    let steered = xsk_steer::steer::<true>(&ctx);
    if steered != xsk_steer::NOT_STEERED {
        return steered;
    }
    verdict(packet::handle(&ctx))
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
