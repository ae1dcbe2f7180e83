//! AF_XDP steering (issue 5, proxy_common::xsk): the first thing
//! `xdp_proxy` does. A LAN packet to a substitute whose peer has an
//! established SA pair, or ESP with one of our inbound SPIs, goes to the
//! AF_XDP socket of its receive queue, where an ESP worker seals or opens
//! it. Everything else (and everything when no socket is bound on the
//! queue, counted as `xsk_missing`) goes on to the NAT and the kernel.
//!
//! Its own BPF function (`#[inline(never)]`): its stack frame is not
//! stacked on the NAT's ~450 bytes.
//!
//! The `host` role's `xdp_host` (bin/xdp_host.rs) includes this file too,
//! with `LAN = false`: only ESP with one of the host's inbound SPIs is
//! steered (to the socket at `XSKS_MAX / 2 + queue`), the substitute
//! lookup is compiled out.

use aya_ebpf::{
    bindings::xdp_action::{XDP_PASS, XDP_REDIRECT},
    macros::map,
    maps::{HashMap, XskMap},
    programs::XdpContext,
};
use proxy_common::{
    Addr16,
    counters::Counter,
    ipproto,
    maps::{XSK_STEER_MAX, XSKS_MAX},
    v4_mapped,
    xsk::{SteerFlags, XSK_F_ESTABLISHED},
};
use proxy_ebpf::{load_addr16, load16, load32, ptr_at};

use crate::maps::count;

/// Receive queue -> the ESP worker's AF_XDP socket.
#[map]
pub static XSKS: XskMap = XskMap::with_max_entries(XSKS_MAX, 0);

/// Substitutes whose traffic the workers carry.
#[map]
pub static XSK_SUBSTITUTES: HashMap<Addr16, SteerFlags> = HashMap::with_max_entries(XSK_STEER_MAX, 0);

/// Inbound SPIs (packet bytes) the workers open.
#[map]
pub static XSK_SPIS: HashMap<[u8; 4], SteerFlags> = HashMap::with_max_entries(XSK_STEER_MAX, 0);

/// Returned when the packet is not steered: `xdp_proxy` goes on.
pub const NOT_STEERED: u32 = u32::MAX;

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const IPV6_HLEN: usize = 40;

/// XDP_REDIRECT to the queue's socket, or [`NOT_STEERED`]. `LAN`: also
/// steer packets to the substitutes in `XSK_SUBSTITUTES` (the proxy).
#[inline(never)]
pub fn steer<const LAN: bool>(ctx: &XdpContext) -> u32 {
    let Some(eth) = ptr_at(ctx, 0, ETH_HLEN) else { return NOT_STEERED };
    let ethertype = u16::from_be(unsafe { load16(eth.add(12)) });
    // (destination, ESP header offset when the packet is ESP)
    let (dst, esp): (Addr16, usize) = if ethertype == ETH_P_IP {
        let Some(ip) = ptr_at(ctx, ETH_HLEN, 20) else { return NOT_STEERED };
        let b = unsafe { *ip };
        // Fragments go the slow path (the kernel reassembles).
        let frag = u16::from_be(unsafe { load16(ip.add(6)) }) & 0x3fff;
        if b >> 4 != 4 || frag != 0 {
            return NOT_STEERED;
        }
        let ihl = ((b & 0x0f) as usize) * 4;
        let d = unsafe { load32(ip.add(16)) }.to_ne_bytes();
        let esp = if unsafe { *ip.add(9) } == ipproto::ESP { ETH_HLEN + (ihl & 0x3c) } else { 0 };
        (v4_mapped(d), esp)
    } else if ethertype == ETH_P_IPV6 {
        let Some(ip) = ptr_at(ctx, ETH_HLEN, IPV6_HLEN) else { return NOT_STEERED };
        let esp = if unsafe { *ip.add(6) } == ipproto::ESP { ETH_HLEN + IPV6_HLEN } else { 0 };
        (unsafe { load_addr16(ip.add(24)) }, esp)
    } else {
        return NOT_STEERED;
    };
    let steered = if esp >= ETH_HLEN + 20 {
        let Some(p) = ptr_at(ctx, esp, 8) else { return NOT_STEERED };
        let spi = unsafe { load32(p) }.to_ne_bytes();
        if !established(unsafe { XSK_SPIS.get(&spi) }) {
            return NOT_STEERED;
        }
        Counter::XskSteeredEsp
    } else {
        if !LAN || !established(unsafe { XSK_SUBSTITUTES.get(&dst) }) {
            return NOT_STEERED;
        }
        Counter::XskSteeredLan
    };
    // LAN sockets at their queue, WAN sockets at XSKS_MAX / 2 + queue:
    // one map serves the program on both interfaces.
    let queue = unsafe { (*ctx.ctx).rx_queue_index } & (XSKS_MAX / 2 - 1);
    let slot = if matches!(steered, Counter::XskSteeredEsp) { XSKS_MAX / 2 + queue } else { queue };
    match XSKS.redirect(slot, XDP_PASS as u64) {
        Ok(_) => {
            count(steered);
            XDP_REDIRECT
        }
        Err(_) => {
            count(Counter::XskMissing);
            NOT_STEERED
        }
    }
}

#[inline(always)]
fn established(f: Option<&SteerFlags>) -> bool {
    matches!(f, Some(f) if f.flags & XSK_F_ESTABLISHED != 0)
}
