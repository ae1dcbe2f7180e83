//! `tc_ipip_encap` (TC egress on the home agent's interface toward the
//! VPN gateway): IPv4 packets to a home address with a binding in
//! `IPIP_BINDINGS` get an outer IPv4 header (RFC 2003 §3.1: source the HA,
//! destination the care-of address, protocol 4) in place: this kernel has
//! no IP-in-IP module. An object of its own, loaded only by the `ha` role.
//!
//! The inner TTL is not decremented here: the kernel's forwarding already
//! did when it routed the packet out of this interface (§3.1 asks for one
//! decrement). The outer header copies TOS and DF from the inner (§3.1).
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{BPF_F_ADJ_ROOM_ENCAP_L3_IPV4, TC_ACT_OK, TC_ACT_SHOT, bpf_adj_room_mode::BPF_ADJ_ROOM_MAC},
    macros::{classifier, map},
    maps::{HashMap, PerCpuArray},
    programs::TcContext,
};
use proxy_common::vpn::{IPIP_BINDINGS_MAX, IPIP_COUNTERS_LEN, IpipBinding, IpipCounter};

/// Home address -> tunnel endpoints (written by the HA daemon).
#[map]
static IPIP_BINDINGS: HashMap<[u8; 4], IpipBinding> = HashMap::with_max_entries(IPIP_BINDINGS_MAX, 0);

/// Per-CPU counters indexed by `IpipCounter`.
#[map]
static IPIP_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(IPIP_COUNTERS_LEN, 0);

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const IPV4_HLEN: usize = 20;
const PROTO_IPIP: u8 = 4;

#[inline(always)]
fn count(c: IpipCounter) {
    if let Some(v) = IPIP_COUNTERS.get_ptr_mut(c as u32) {
        // SAFETY: a per-CPU slot only this CPU writes.
        unsafe { *v += 1 };
    }
}

#[classifier]
pub fn tc_ipip_encap(ctx: TcContext) -> i32 {
    match encap(&ctx) {
        Ok(()) => TC_ACT_OK,
        Err(c) => {
            count(c);
            TC_ACT_SHOT
        }
    }
}

fn encap(ctx: &TcContext) -> Result<(), IpipCounter> {
    let Ok(eth_proto) = ctx.load::<u16>(12) else { return Ok(()) };
    if u16::from_be(eth_proto) != ETH_P_IP {
        return Ok(());
    }
    let Ok(dst) = ctx.load::<[u8; 4]>(ETH_HLEN + 16) else { return Ok(()) };
    // SAFETY: the value is copied out before any other map operation.
    let Some(b) = (unsafe { IPIP_BINDINGS.get(dst) }).copied() else { return Ok(()) };
    let ver_ihl: u8 = ctx.load(ETH_HLEN).map_err(|_| IpipCounter::DropMalformed)?;
    let proto: u8 = ctx.load(ETH_HLEN + 9).map_err(|_| IpipCounter::DropMalformed)?;
    if ver_ihl >> 4 != 4 || proto == PROTO_IPIP {
        // Not IPv4, or already a tunnel packet (never wrap twice).
        return Ok(());
    }
    let tos: u8 = ctx.load(ETH_HLEN + 1).map_err(|_| IpipCounter::DropMalformed)?;
    let tot: u16 = u16::from_be(ctx.load(ETH_HLEN + 2).map_err(|_| IpipCounter::DropMalformed)?);
    let frag: u16 = u16::from_be(ctx.load(ETH_HLEN + 6).map_err(|_| IpipCounter::DropMalformed)?);
    let outer_len = tot.checked_add(IPV4_HLEN as u16).ok_or(IpipCounter::DropMalformed)?;
    ctx.adjust_room(IPV4_HLEN as i32, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 as u64)
        .map_err(|_| IpipCounter::DropAdjustRoom)?;
    let mut h = [0u8; IPV4_HLEN];
    h[0] = 0x45;
    h[1] = tos;
    h[2..4].copy_from_slice(&outer_len.to_be_bytes());
    // DF copied from the inner header; no fragment offset.
    h[6] = ((frag & 0x4000) >> 8) as u8;
    h[8] = 64;
    h[9] = PROTO_IPIP;
    h[12..16].copy_from_slice(&b.src);
    h[16..20].copy_from_slice(&b.care_of);
    let mut sum: u32 = 0;
    let mut i = 0;
    while i < IPV4_HLEN {
        sum += u32::from(u16::from_be_bytes([h[i], h[i + 1]]));
        i += 2;
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    ctx.store(ETH_HLEN, &h, 0).map_err(|_| IpipCounter::DropAdjustRoom)?;
    count(IpipCounter::Encapsulated);
    Ok(())
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
