//! DNS steering on the LAN interface (issue 3): a legacy host's query to
//! any resolver address is delivered to the proxy's own resolver, and the
//! answer goes back from the address the host asked, so the host needs no
//! change beyond using the proxy as its router.
//!
//! - `tc_dns_steer_in` (TC ingress, LAN): UDP/TCP to port 53 at an address
//!   other than the resolver's: remember {client, port, proto} -> asked
//!   address in `DNS_STEERED`, rewrite the destination to the resolver.
//! - `tc_dns_steer_out` (TC egress, LAN): UDP/TCP from the resolver to a
//!   remembered client end: rewrite the source back to the asked address.
//!
//! TC rather than XDP: the kernel's checksum helpers handle every
//! `ip_summed` state (CHECKSUM_PARTIAL from local sockets and veth), and
//! `xdp_proxy`'s stack stays untouched. Only queries (dport 53) are
//! steered, so the proxy's own upstream queries and their answers pass.

use aya_ebpf::{
    bindings::{BPF_F_MARK_MANGLED_0, BPF_F_PSEUDO_HDR, TC_ACT_OK, TC_ACT_SHOT},
    helpers::bpf_csum_diff,
    macros::{classifier, map},
    maps::{Array, LruHashMap},
    programs::TcContext,
};
use proxy_common::{
    Addr16,
    counters::Counter,
    dns::{DNS_PORT_BE, DnsSteerConfig, STEER_F_V4, STEER_F_V6, SteerEntry, SteerKey},
    ipproto,
    maps::DNS_STEERED_MAX,
    v4_mapped,
};

use crate::maps::count;

/// Where steered queries go (one entry, written by the daemon).
#[map]
pub static DNS_STEER_CONFIG: Array<DnsSteerConfig> = Array::with_max_entries(1, 0);

/// The resolver address each steered conversation asked for.
#[map]
pub static DNS_STEERED: LruHashMap<SteerKey, SteerEntry> = LruHashMap::with_max_entries(DNS_STEERED_MAX, 0);

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const IPV6_HLEN: usize = 40;

/// The fields of one UDP/TCP packet the steering reads. Addresses are kept
/// as raw packet words (network order), as the checksum helpers take them.
struct L4 {
    v6: bool,
    proto: u8,
    /// Offset of the IPv4/IPv6 source address.
    src_off: usize,
    /// Offset of the UDP/TCP header.
    l4: usize,
    src: [u32; 4],
    dst: [u32; 4],
    sport_be: u16,
    dport_be: u16,
}

impl L4 {
    fn csum_off(&self) -> usize {
        self.l4 + if self.proto == ipproto::UDP { 6 } else { 16 }
    }

    /// Flags for the L4 checksum helper: a UDP checksum of 0 means "none"
    /// in IPv4 (RFC 768) and must stay 0.
    fn mangled(&self) -> u64 {
        if self.proto == ipproto::UDP { BPF_F_MARK_MANGLED_0 as u64 } else { 0 }
    }
}

fn addr16(words: &[u32; 4], v6: bool) -> Addr16 {
    if v6 {
        // SAFETY: [u32; 4] and [u8; 16] have the same size; raw bytes kept.
        unsafe { core::mem::transmute::<[u32; 4], Addr16>(*words) }
    } else {
        v4_mapped(words[0].to_ne_bytes())
    }
}

fn words(a: &Addr16, v6: bool) -> [u32; 4] {
    if v6 {
        // SAFETY: as in `addr16`.
        unsafe { core::mem::transmute::<Addr16, [u32; 4]>(*a) }
    } else {
        [u32::from_ne_bytes([a[12], a[13], a[14], a[15]]), 0, 0, 0]
    }
}

/// A UDP or TCP packet over IPv4 (not a fragment) or IPv6 (no extension
/// header), else `None`: anything else is not DNS we steer.
#[inline(always)]
fn parse(ctx: &TcContext) -> Option<L4> {
    let ethertype = u16::from_be(ctx.load::<u16>(12).ok()?);
    let (v6, proto, src_off, l4) = match ethertype {
        ETH_P_IP => {
            let vihl: u8 = ctx.load(ETH_HLEN).ok()?;
            let ihl = ((vihl & 0x0f) as usize) * 4;
            let frag = u16::from_be(ctx.load::<u16>(ETH_HLEN + 6).ok()?);
            if vihl >> 4 != 4 || ihl < 20 || frag & 0x3fff != 0 {
                return None;
            }
            (false, ctx.load::<u8>(ETH_HLEN + 9).ok()?, ETH_HLEN + 12, ETH_HLEN + ihl)
        }
        ETH_P_IPV6 => (true, ctx.load::<u8>(ETH_HLEN + 6).ok()?, ETH_HLEN + 8, ETH_HLEN + IPV6_HLEN),
        _ => return None,
    };
    if proto != ipproto::UDP && proto != ipproto::TCP {
        return None;
    }
    let (src, dst) = if v6 {
        (ctx.load::<[u32; 4]>(src_off).ok()?, ctx.load::<[u32; 4]>(src_off + 16).ok()?)
    } else {
        ([ctx.load::<u32>(src_off).ok()?, 0, 0, 0], [ctx.load::<u32>(src_off + 4).ok()?, 0, 0, 0])
    };
    Some(L4 { v6, proto, src_off, l4, src, dst, sport_be: ctx.load(l4).ok()?, dport_be: ctx.load(l4 + 2).ok()? })
}

/// Rewrites the address at `off` (source or destination) from `old` to
/// `new`, and port at `port_off` from `old_port` to `new_port`, with the
/// IPv4 header and UDP/TCP checksums updated by the kernel's helpers.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // two (address, port) pairs and where they sit
fn rewrite(
    ctx: &mut TcContext,
    p: &L4,
    off: usize,
    old: &[u32; 4],
    new: &[u32; 4],
    port_off: usize,
    old_port: u16,
    new_port: u16,
) -> Result<(), i64> {
    let csum = p.csum_off();
    if p.v6 {
        let mut from = *old;
        let mut to = *new;
        // SAFETY: both buffers are 16 readable bytes on our stack.
        let diff = unsafe { bpf_csum_diff(from.as_mut_ptr(), 16, to.as_mut_ptr(), 16, 0) };
        if diff < 0 {
            return Err(diff);
        }
        ctx.l4_csum_replace(csum, 0, diff as u64, BPF_F_PSEUDO_HDR as u64 | p.mangled())?;
        ctx.store(off, new, 0)?;
    } else {
        ctx.l3_csum_replace(ETH_HLEN + 10, old[0] as u64, new[0] as u64, 4)?;
        ctx.l4_csum_replace(csum, old[0] as u64, new[0] as u64, BPF_F_PSEUDO_HDR as u64 | p.mangled() | 4)?;
        ctx.store(off, &new[0], 0)?;
    }
    if old_port != new_port {
        ctx.l4_csum_replace(csum, old_port as u64, new_port as u64, p.mangled() | 2)?;
        ctx.store(port_off, &new_port, 0)?;
    }
    Ok(())
}

/// The resolver address and port of the packet's family, if steering is
/// on and the packet is not from the proxy's upstream resolver.
#[inline(always)]
fn resolver(v6: bool, src: &[u32; 4]) -> Option<([u32; 4], u16)> {
    let cfg = DNS_STEER_CONFIG.get(0)?;
    if addr16(src, v6) == cfg.upstream {
        return None;
    }
    if v6 && cfg.flags & STEER_F_V6 != 0 {
        Some((words(&cfg.resolver_v6, true), cfg.port_v6_be))
    } else if !v6 && cfg.flags & STEER_F_V4 != 0 {
        Some((words(&cfg.resolver_v4, false), cfg.port_v4_be))
    } else {
        None
    }
}

fn same(a: &[u32; 4], b: &[u32; 4], v6: bool) -> bool {
    if v6 { a == b } else { a[0] == b[0] }
}

#[classifier]
pub fn tc_dns_steer_in(mut ctx: TcContext) -> i32 {
    action(steer_in(&mut ctx))
}

#[classifier]
pub fn tc_dns_steer_out(mut ctx: TcContext) -> i32 {
    action(steer_out(&mut ctx))
}

/// Steered or not ours: on. A rewrite the helpers refused half-way would
/// leave a packet with a wrong checksum: a counted drop.
#[inline(always)]
fn action(r: Result<(), Counter>) -> i32 {
    match r {
        Ok(()) => TC_ACT_OK,
        Err(c) => {
            count(c);
            TC_ACT_SHOT
        }
    }
}

/// A query to port 53: steer it to the resolver, unless it is for the
/// resolver itself.
#[inline(always)]
fn steer_in(ctx: &mut TcContext) -> Result<(), Counter> {
    let Some(p) = parse(ctx) else { return Ok(()) };
    if p.dport_be != DNS_PORT_BE {
        return Ok(());
    }
    let Some((addr, port_be)) = resolver(p.v6, &p.src) else { return Ok(()) };
    let key = SteerKey { client: addr16(&p.src, p.v6), client_port_be: p.sport_be, proto: p.proto, _pad: 0 };
    if same(&p.dst, &addr, p.v6) {
        // Asked the resolver directly: its answers must not be rewritten
        // after an earlier steered conversation from the same port.
        let _ = DNS_STEERED.remove(&key);
        return Ok(());
    }
    let entry = SteerEntry { asked: addr16(&p.dst, p.v6), asked_port_be: p.dport_be, _pad: [0; 6] };
    // An LRU insert only fails on memory pressure: the query then goes
    // where it was sent, untouched.
    if DNS_STEERED.insert(&key, &entry, 0).is_err() {
        return Ok(());
    }
    let dst_off = p.src_off + if p.v6 { 16 } else { 4 };
    rewrite(ctx, &p, dst_off, &p.dst, &addr, p.l4 + 2, p.dport_be, port_be).map_err(|_| Counter::DropMalformed)?;
    count(Counter::DnsSteered);
    Ok(())
}

/// An answer from the resolver to a steered client: give it the source
/// the client asked.
#[inline(always)]
fn steer_out(ctx: &mut TcContext) -> Result<(), Counter> {
    let Some(p) = parse(ctx) else { return Ok(()) };
    let Some((addr, port_be)) = resolver(p.v6, &p.dst) else { return Ok(()) };
    if p.sport_be != port_be || !same(&p.src, &addr, p.v6) {
        return Ok(());
    }
    let key = SteerKey { client: addr16(&p.dst, p.v6), client_port_be: p.dport_be, proto: p.proto, _pad: 0 };
    // SAFETY: the value is copied out at once; LRU entries may be evicted.
    let Some(entry) = (unsafe { DNS_STEERED.get(&key) }).copied() else { return Ok(()) };
    let asked = words(&entry.asked, p.v6);
    rewrite(ctx, &p, p.src_off, &p.src, &asked, p.l4, p.sport_be, entry.asked_port_be)
        .map_err(|_| Counter::DropMalformed)?;
    count(Counter::DnsAnswerRestored);
    Ok(())
}
