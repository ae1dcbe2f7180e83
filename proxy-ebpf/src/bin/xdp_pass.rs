//! `xdp_pass`: passes every frame. An object of its own, with no maps, so
//! attaching it pins nothing. veth drops frames XDP-redirected into it
//! unless its peer runs an XDP program (TOOLCHAIN.md): topologies put this
//! on the far ends of the proxy's veths.
#![no_std]
#![no_main]

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

#[xdp]
pub fn xdp_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
