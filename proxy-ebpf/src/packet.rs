//! Parse the IP header, decide whose packet it is, and rewrite it.
//!
//! Addresses are carried as `Addr16` (IPv4 as IPv4-mapped) so one set of
//! map keys serves both families; only the bytes of the packet's own
//! family are ever written back.

use aya_ebpf::{
    bindings::{xdp_action, xdp_md},
    programs::XdpContext,
};
use proxy_common::{
    Addr16,
    config::DatapathConfig,
    counters::Counter,
    ipproto,
    nat::{FlowKey, MAPPING_F_HIP, ReplyKey, tcp_state},
    v4_mapped,
};
use proxy_ebpf::{load_addr16, load16, load32, ptr_at, store_addr16, store16, store32};

use crate::{
    csum::Delta,
    fib, flow, icmp_error,
    maps::{CONFIG, NAT_FLOWS, NAT_REPLIES, SCRATCH, SUBSTITUTES, count, verdict},
};

pub const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const IPV6_HLEN: usize = 40;

pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_ECHO_REQUEST: u8 = 8;
pub const ICMPV6_ECHO_REQUEST: u8 = 128;
pub const ICMPV6_ECHO_REPLY: u8 = 129;

/// Per-CPU scratch memory for what would not fit the BPF stack.
#[repr(C)]
pub struct Scratch {
    pub ip: Ip,
    /// The ICMP error path's embedded addresses and flow keys.
    pub in_src: Addr16,
    pub in_dst: Addr16,
    pub outer_src: Addr16,
    pub rkey: ReplyKey,
    pub fkey: FlowKey,
}

/// Where the fields of one IP packet are, and its addresses.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Ip {
    pub v6: bool,
    /// Offset of the transport header; read it with [`Ip::l4`].
    pub l4: usize,
    pub proto: u8,
    pub src: Addr16,
    pub dst: Addr16,
}

impl Ip {
    /// The transport header offset, masked: read back from the scratch
    /// map it is an unbounded scalar to the verifier, which refuses packet
    /// pointer arithmetic with it. Real values are at most 14 + 60.
    #[inline(always)]
    pub fn l4(&self) -> usize {
        self.l4 & 0x7f
    }

    /// Whether the transport checksum covers the pseudo-header (TCP, UDP,
    /// ICMPv6) or not (ICMPv4, RFC 792).
    #[inline(always)]
    pub fn l4_has_pseudo(&self) -> bool {
        self.proto != ipproto::ICMP
    }
}

pub fn handle(ctx: &XdpContext) -> Result<u32, Counter> {
    let Some(cfg) = CONFIG.get(0) else {
        return Ok(xdp_action::XDP_PASS);
    };
    let Some(eth) = ptr_at(ctx, 0, ETH_HLEN) else {
        return Ok(xdp_action::XDP_PASS);
    };
    // The parsed header lives in per-CPU scratch memory, not on the
    // 512-byte BPF stack that the call chain below shares.
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else {
        return Ok(xdp_action::XDP_PASS);
    };
    let scratch = unsafe { &mut *scratch };
    let ethertype = u16::from_be(unsafe { load16(eth.add(12)) });
    let parsed = match ethertype {
        ETH_P_IP => parse_v4(ctx, &mut scratch.ip)?,
        ETH_P_IPV6 => parse_v6(ctx, &mut scratch.ip)?,
        _ => return Ok(xdp_action::XDP_PASS),
    };
    if !parsed {
        count(Counter::NotOurs);
        return Ok(xdp_action::XDP_PASS);
    }
    let ip = &scratch.ip;

    if let Some(mapping) = unsafe { SUBSTITUTES.get(&ip.dst) } {
        // A HIP mapping: the proxy's ESP path translates and seals it
        // (its translator counts the packet), so XDP leaves it untouched.
        if mapping.flags & MAPPING_F_HIP != 0 {
            count(Counter::NotOurs);
            return Ok(xdp_action::XDP_PASS);
        }
        return Ok(forward(ctx.ctx, cfg, ip, &mapping.peer));
    }
    let wan = if ip.v6 { &cfg.wan_v6 } else { &cfg.wan_v4 };
    if ip.dst == *wan {
        // ICMP errors about a translated flow carry the flow in their payload.
        let action = icmp_error::reverse(ctx.ctx, cfg, scratch);
        if action != icmp_error::NOT_AN_ERROR_OF_OURS {
            return Ok(action);
        }
        return Ok(reverse(ctx.ctx, cfg, &scratch.ip));
    }
    if in_pool(cfg, &ip.dst, ip.v6) {
        return Err(Counter::DropNoMapping);
    }
    count(Counter::NotOurs);
    Ok(xdp_action::XDP_PASS)
}

/// `Ok(false)`: an IPv4 packet we leave alone (not for us to judge: the
/// kernel does). Fragments to a substitute are dropped: the ports are not
/// (all) there to translate.
#[inline(always)]
fn parse_v4(ctx: &XdpContext, ip: &mut Ip) -> Result<bool, Counter> {
    let Some(h) = ptr_at(ctx, ETH_HLEN, 20) else {
        return Ok(false);
    };
    let vihl = unsafe { *h };
    let ihl = ((vihl & 0x0f) as usize) * 4;
    if vihl >> 4 != 4 || ihl < 20 {
        return Ok(false);
    }
    ip.v6 = false;
    ip.l4 = ETH_HLEN + ihl;
    ip.proto = unsafe { *h.add(9) };
    ip.src = v4_mapped(unsafe { load32(h.add(12)) }.to_ne_bytes());
    ip.dst = v4_mapped(unsafe { load32(h.add(16)) }.to_ne_bytes());
    let frag = u16::from_be(unsafe { load16(h.add(6)) });
    if frag & 0x3fff != 0 {
        if unsafe { SUBSTITUTES.get(&ip.dst) }.is_some() {
            return Err(Counter::DropFragment);
        }
        return Ok(false);
    }
    Ok(true)
}

#[inline(always)]
fn parse_v6(ctx: &XdpContext, ip: &mut Ip) -> Result<bool, Counter> {
    let Some(h) = ptr_at(ctx, ETH_HLEN, IPV6_HLEN) else {
        return Ok(false);
    };
    if unsafe { *h } >> 4 != 6 {
        return Ok(false);
    }
    ip.v6 = true;
    ip.l4 = ETH_HLEN + IPV6_HLEN;
    // Extension headers (fragment header included) are not walked: such
    // packets to a substitute count as unsupported.
    ip.proto = unsafe { *h.add(6) };
    ip.src = unsafe { load_addr16(h.add(8)) };
    ip.dst = unsafe { load_addr16(h.add(24)) };
    Ok(true)
}

#[inline(always)]
fn in_pool(cfg: &DatapathConfig, a: &Addr16, v6: bool) -> bool {
    let (net, len) =
        if v6 { (&cfg.pool_v6, cfg.pool_v6_len as usize) } else { (&cfg.pool_v4, 96 + cfg.pool_v4_len as usize) };
    if (!v6 && cfg.pool_v4_len == 0) || (v6 && cfg.pool_v6_len == 0) {
        return false;
    }
    let mut i = 0;
    while i < 16 {
        let bits = if len >= (i + 1) * 8 { 8 } else { len.saturating_sub(i * 8) };
        let mask: u8 = if bits == 0 { 0 } else { 0xffu8 << (8 - bits) };
        if (a[i] ^ net[i]) & mask != 0 {
            return false;
        }
        i += 1;
    }
    true
}

/// The TTL / hop limit is about to run out: hand the packet, untranslated,
/// to the kernel so it sends ICMP time exceeded itself.
#[inline(always)]
fn ttl_expiring(ctx: &XdpContext, ip: &Ip) -> bool {
    let off = if ip.v6 { ETH_HLEN + 7 } else { ETH_HLEN + 8 };
    match ptr_at(ctx, off, 1) {
        Some(p) => (unsafe { *p }) <= 1,
        None => true,
    }
}

/// The transport ports of a TCP/UDP packet, or the identifier of an ICMP
/// echo request/reply (as the "source port"; the other is 0). Also the
/// offset of the field that carries the translated port or identifier.
#[derive(Clone, Copy)]
pub struct Ports {
    pub sport: u16,
    pub dport: u16,
    /// Offsets of the translated id field and the transport checksum.
    pub id_off: usize,
    pub csum_off: usize,
}

/// `echo_type`: which ICMP echo type is acceptable here (request on the
/// way out, reply on the way back).
#[inline(always)]
fn ports(ctx: &XdpContext, ip: &Ip, echo_type_v4: u8, echo_type_v6: u8, outbound: bool) -> Result<Ports, Counter> {
    match ip.proto {
        ipproto::TCP | ipproto::UDP => {
            let len = if ip.proto == ipproto::TCP { 20 } else { 8 };
            let p = ptr_at(ctx, ip.l4(), len).ok_or(Counter::DropMalformed)?;
            let sport = unsafe { load16(p) };
            let dport = unsafe { load16(p.add(2)) };
            let csum = if ip.proto == ipproto::TCP { 16 } else { 6 };
            Ok(Ports {
                sport,
                dport,
                // Outbound rewrites the source port, inbound the destination.
                id_off: if outbound { ip.l4() } else { ip.l4() + 2 },
                csum_off: ip.l4() + csum,
            })
        }
        ipproto::ICMP | ipproto::ICMPV6 => {
            let p = ptr_at(ctx, ip.l4(), 8).ok_or(Counter::DropMalformed)?;
            let ty = unsafe { *p };
            let want = if ip.proto == ipproto::ICMP { echo_type_v4 } else { echo_type_v6 };
            if ty != want || (ip.proto == ipproto::ICMP) == ip.v6 {
                return Err(Counter::DropUnsupportedProto);
            }
            Ok(Ports { sport: unsafe { load16(p.add(4)) }, dport: 0, id_off: ip.l4() + 4, csum_off: ip.l4() + 2 })
        }
        _ => Err(Counter::DropUnsupportedProto),
    }
}

/// Rewrite the source and destination addresses of the packet's own IP
/// header; return the pseudo-header delta (and fix the IPv4 header
/// checksum, which covers the addresses).
#[inline(always)]
pub fn rewrite_addrs(ctx: &XdpContext, ip: &Ip, new_src: &Addr16, new_dst: &Addr16) -> Result<Delta, Counter> {
    let mut d = Delta::default();
    if ip.v6 {
        let h = ptr_at(ctx, ETH_HLEN, IPV6_HLEN).ok_or(Counter::DropMalformed)?;
        d.bytes16(&ip.src, new_src);
        d.bytes16(&ip.dst, new_dst);
        unsafe {
            store_addr16(h.add(8), new_src);
            store_addr16(h.add(24), new_dst);
        }
    } else {
        let h = ptr_at(ctx, ETH_HLEN, 20).ok_or(Counter::DropMalformed)?;
        let (os, ns) = (v4_of(&ip.src), v4_of(new_src));
        let (od, nd) = (v4_of(&ip.dst), v4_of(new_dst));
        d.bytes4(&os, &ns);
        d.bytes4(&od, &nd);
        unsafe {
            store32(h.add(12), u32::from_ne_bytes(ns));
            store32(h.add(16), u32::from_ne_bytes(nd));
            let c = load16(h.add(10));
            store16(h.add(10), d.apply(c));
        }
    }
    Ok(d)
}

#[inline(always)]
pub fn v4_of(a: &Addr16) -> [u8; 4] {
    [a[12], a[13], a[14], a[15]]
}

#[inline(always)]
pub fn is_v4_mapped(a: &Addr16) -> bool {
    a[..10] == [0; 10] && a[10] == 0xff && a[11] == 0xff
}

/// Replace the port/identifier at `ports.id_off` and update the transport
/// checksum with it and the pseudo-header delta.
#[inline(always)]
fn rewrite_l4(ctx: &XdpContext, ip: &Ip, ports: &Ports, old: u16, new: u16, pseudo: Delta) -> Result<(), Counter> {
    let idp = ptr_at(ctx, ports.id_off, 2).ok_or(Counter::DropMalformed)?;
    let cp = ptr_at(ctx, ports.csum_off, 2).ok_or(Counter::DropMalformed)?;
    let mut d = if ip.l4_has_pseudo() { pseudo } else { Delta::default() };
    d.word(old, new);
    unsafe {
        store16(idp, new);
        let c = load16(cp);
        // A zero UDP checksum over IPv4 means "none" (RFC 768): keep it.
        if !(ip.proto == ipproto::UDP && c == 0) {
            let mut n = d.apply(c);
            if ip.proto == ipproto::UDP && n == 0 {
                n = 0xffff;
            }
            store16(cp, n);
        }
    }
    Ok(())
}

#[inline(always)]
fn tcp_flags(ctx: &XdpContext, ip: &Ip) -> u8 {
    if ip.proto != ipproto::TCP {
        return 0;
    }
    match ptr_at(ctx, ip.l4() + 13, 1) {
        Some(p) => unsafe { *p },
        None => 0,
    }
}

const TH_FIN: u8 = 0x01;
const TH_SYN: u8 = 0x02;
const TH_RST: u8 = 0x04;
const TH_ACK: u8 = 0x10;

#[inline(always)]
fn packet_len(ctx: &XdpContext) -> u64 {
    (ctx.data_end() - ctx.data()) as u64
}

/// The two directions are separate BPF functions (not inlined) so each has
/// its own stack frame: inlined together they exceed the 512-byte stack.
#[inline(never)]
fn forward(raw: *mut xdp_md, cfg: &DatapathConfig, ip: &Ip, peer: &Addr16) -> u32 {
    verdict(try_forward(&XdpContext::new(raw), cfg, ip, peer))
}

#[inline(never)]
fn reverse(raw: *mut xdp_md, cfg: &DatapathConfig, ip: &Ip) -> u32 {
    verdict(try_reverse(&XdpContext::new(raw), cfg, ip))
}

/// Legacy host -> substitute: translate toward the peer.
#[inline(always)]
fn try_forward(ctx: &XdpContext, cfg: &DatapathConfig, ip: &Ip, peer: &Addr16) -> Result<u32, Counter> {
    if is_v4_mapped(peer) == ip.v6 {
        return Err(Counter::DropFamilyMismatch);
    }
    if ttl_expiring(ctx, ip) {
        count(Counter::TtlExpired);
        return Ok(xdp_action::XDP_PASS);
    }
    let ports = ports(ctx, ip, ICMP_ECHO_REQUEST, ICMPV6_ECHO_REQUEST, true)?;
    let key = FlowKey {
        src: ip.src,
        dst: ip.dst,
        sport_be: ports.sport,
        dport_be: ports.dport,
        proto: ip.proto,
        _pad: [0; 3],
    };
    let entry = match NAT_FLOWS.get_ptr_mut(&key) {
        Some(e) => e,
        None => {
            let e = flow::create(&key, peer, cfg);
            if e.is_null() {
                return Ok(xdp_action::XDP_DROP);
            }
            e
        }
    };
    let entry = unsafe { &mut *entry };
    let wan = if ip.v6 { cfg.wan_v6 } else { cfg.wan_v4 };
    let peer = entry.peer;
    let pseudo = rewrite_addrs(ctx, ip, &wan, &peer)?;
    rewrite_l4(ctx, ip, &ports, ports.sport, entry.nat_port_be, pseudo)?;

    let flags = tcp_flags(ctx, ip);
    let mut st = entry.tcp_state;
    if flags & TH_SYN != 0 {
        st |= tcp_state::SYN_OUT;
    }
    if flags & TH_FIN != 0 {
        st |= tcp_state::FIN_OUT;
    }
    if flags & TH_RST != 0 {
        st |= tcp_state::RST;
    }
    if flags & TH_ACK != 0 && st & tcp_state::SYN_IN != 0 {
        st |= tcp_state::ESTABLISHED;
    }
    entry.tcp_state = st;
    entry.last_seen_ns = unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() };
    entry.packets_out += 1;
    entry.bytes_out += packet_len(ctx);
    count(Counter::NatForward);
    Ok(fib::forward(ctx.ctx, cfg, ip.v6, &wan, &peer))
}

/// Peer -> proxy: translate back toward the legacy host if it belongs to a
/// NAT flow; otherwise it is the proxy's own traffic and passes.
#[inline(always)]
fn try_reverse(ctx: &XdpContext, cfg: &DatapathConfig, ip: &Ip) -> Result<u32, Counter> {
    let Ok(ports) = ports(ctx, ip, ICMP_ECHO_REPLY, ICMPV6_ECHO_REPLY, false) else {
        count(Counter::NotOurs);
        return Ok(xdp_action::XDP_PASS);
    };
    // For echo replies the identifier is the proxy's "port".
    let (peer_port, nat_port) = if ip.proto == ipproto::TCP || ip.proto == ipproto::UDP {
        (ports.sport, ports.dport)
    } else {
        (0, ports.sport)
    };
    let rkey = ReplyKey { peer: ip.src, peer_port_be: peer_port, nat_port_be: nat_port, proto: ip.proto, _pad: [0; 3] };
    let Some(fkey) = (unsafe { NAT_REPLIES.get(&rkey) }) else {
        count(Counter::NotOurs);
        return Ok(xdp_action::XDP_PASS);
    };
    let fkey = *fkey;
    let Some(entry) = NAT_FLOWS.get_ptr_mut(&fkey) else {
        count(Counter::NotOurs);
        return Ok(xdp_action::XDP_PASS);
    };
    if ttl_expiring(ctx, ip) {
        count(Counter::TtlExpired);
        return Ok(xdp_action::XDP_PASS);
    }
    let entry = unsafe { &mut *entry };
    let pseudo = rewrite_addrs(ctx, ip, &fkey.dst, &fkey.src)?;
    rewrite_l4(ctx, ip, &ports, nat_port, fkey.sport_be, pseudo)?;

    let flags = tcp_flags(ctx, ip);
    let mut st = entry.tcp_state;
    if flags & TH_SYN != 0 {
        st |= tcp_state::SYN_IN;
    }
    if flags & TH_FIN != 0 {
        st |= tcp_state::FIN_IN;
    }
    if flags & TH_RST != 0 {
        st |= tcp_state::RST;
    }
    entry.tcp_state = st;
    entry.last_seen_ns = unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() };
    entry.packets_in += 1;
    entry.bytes_in += packet_len(ctx);
    count(Counter::NatReverse);
    Ok(fib::forward(ctx.ctx, cfg, ip.v6, &fkey.dst, &fkey.src))
}
