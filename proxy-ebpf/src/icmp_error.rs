//! Translating ICMP errors about a NAT flow on their way back to the
//! legacy host (RFC 5508 §4.2 / RFC 5382 §6 behaviour for a NAT):
//! destination unreachable (port unreachable, fragmentation needed),
//! packet too big, time exceeded and parameter problem. Without this,
//! path-MTU discovery breaks for every translated flow.
//!
//! The embedded packet is the one the proxy sent (proxy:nat port ->
//! peer:port); it is rewritten to what the legacy host sent (legacy:port ->
//! substitute:port), with its IPv4 header checksum and, where the router
//! included it, its transport checksum updated; the outer ICMP checksum is
//! updated for every word changed inside it (and, for ICMPv6, for the
//! outer pseudo-header too).

use aya_ebpf::{
    bindings::{xdp_action, xdp_md},
    programs::XdpContext,
};
use proxy_common::{config::DatapathConfig, counters::Counter, ipproto, v4_mapped};
use proxy_ebpf::{load_addr16, load16, load32, ptr_at, store_addr16, store16, store32};

use crate::{
    csum::Delta,
    fib,
    maps::{NAT_FLOWS, NAT_REPLIES, count},
    packet::{ICMP_ECHO_REQUEST, ICMPV6_ECHO_REQUEST, Ip, Scratch, rewrite_addrs, v4_of},
};

#[inline(always)]
fn is_error(ip: &Ip, ty: u8) -> bool {
    if ip.v6 {
        ip.proto == ipproto::ICMPV6 && (1..=4).contains(&ty)
    } else {
        ip.proto == ipproto::ICMP && (ty == 3 || ty == 11 || ty == 12)
    }
}

/// Returned when the packet is not an ICMP error about one of our flows.
pub const NOT_AN_ERROR_OF_OURS: u32 = u32::MAX;

/// The XDP action for an ICMP error about one of our flows, or
/// [`NOT_AN_ERROR_OF_OURS`]. A separate BPF function for its own stack
/// frame; a plain u32 because BPF functions return one register.
#[inline(never)]
pub fn reverse(raw: *mut xdp_md, cfg: &DatapathConfig, s: &mut Scratch) -> u32 {
    let ctx = XdpContext::new(raw);
    match try_reverse(&ctx, cfg, s) {
        Ok(Some(action)) => action,
        Ok(None) => NOT_AN_ERROR_OF_OURS,
        Err(reason) => {
            count(reason);
            xdp_action::XDP_DROP
        }
    }
}

#[inline(always)]
fn try_reverse(ctx: &XdpContext, cfg: &DatapathConfig, s: &mut Scratch) -> Result<Option<u32>, Counter> {
    let ip = &s.ip;
    let Some(icmp) = ptr_at(ctx, ip.l4(), 8) else {
        return Ok(None);
    };
    if !is_error(ip, unsafe { *icmp }) {
        return Ok(None);
    }
    let v6 = ip.v6;
    // The embedded IP header follows the 8-byte ICMP header.
    let in_l3 = ip.l4() + 8;
    let (in_l4, in_proto) = if v6 {
        let Some(h) = ptr_at(ctx, in_l3, 40) else {
            return Ok(None);
        };
        unsafe {
            s.in_src = load_addr16(h.add(8));
            s.in_dst = load_addr16(h.add(24));
            (in_l3 + 40, *h.add(6))
        }
    } else {
        let Some(h) = ptr_at(ctx, in_l3, 20) else {
            return Ok(None);
        };
        let ihl = ((unsafe { *h } & 0x0f) as usize) * 4;
        if ihl < 20 {
            return Ok(None);
        }
        unsafe {
            s.in_src = v4_mapped(load32(h.add(12)).to_ne_bytes());
            s.in_dst = v4_mapped(load32(h.add(16)).to_ne_bytes());
            (in_l3 + ihl, *h.add(9))
        }
    };
    let wan = if v6 { &cfg.wan_v6 } else { &cfg.wan_v4 };
    if s.in_src != *wan {
        return Ok(None);
    }
    // RFC 792/4443: at least 8 bytes of the embedded transport header.
    let Some(l4) = ptr_at(ctx, in_l4, 8) else {
        return Ok(None);
    };
    let (peer_port, nat_port, id_off, csum_off) = match in_proto {
        ipproto::TCP => unsafe { (load16(l4.add(2)), load16(l4), in_l4, in_l4 + 16) },
        ipproto::UDP => unsafe { (load16(l4.add(2)), load16(l4), in_l4, in_l4 + 6) },
        ipproto::ICMP | ipproto::ICMPV6 => {
            let want = if v6 { ICMPV6_ECHO_REQUEST } else { ICMP_ECHO_REQUEST };
            if unsafe { *l4 } != want {
                return Ok(None);
            }
            unsafe { (0, load16(l4.add(4)), in_l4 + 4, in_l4 + 2) }
        }
        _ => return Ok(None),
    };
    s.rkey.peer = s.in_dst;
    s.rkey.peer_port_be = peer_port;
    s.rkey.nat_port_be = nat_port;
    s.rkey.proto = in_proto;
    s.rkey._pad = [0; 3];
    let Some(fkey) = (unsafe { NAT_REPLIES.get(&s.rkey) }) else {
        return Ok(None);
    };
    s.fkey = *fkey;
    if unsafe { NAT_FLOWS.get(&s.fkey) }.is_none() {
        return Ok(None);
    }

    // Outer header: to the legacy host; from the substitute when the peer
    // itself reports, from the reporting router otherwise.
    s.outer_src = if s.ip.src == s.in_dst { s.fkey.dst } else { s.ip.src };
    let outer_pseudo = rewrite_addrs(ctx, &s.ip, &s.outer_src, &s.fkey.src)?;

    // Everything changed inside the ICMP message, for its checksum.
    let mut icmp_d = Delta::default();
    let mut addr_d = Delta::default();
    if v6 {
        let h = ptr_at(ctx, in_l3, 40).ok_or(Counter::DropMalformed)?;
        addr_d.bytes16(&s.in_src, &s.fkey.src);
        addr_d.bytes16(&s.in_dst, &s.fkey.dst);
        unsafe {
            store_addr16(h.add(8), &s.fkey.src);
            store_addr16(h.add(24), &s.fkey.dst);
        }
        icmp_d.add(addr_d);
    } else {
        let h = ptr_at(ctx, in_l3, 20).ok_or(Counter::DropMalformed)?;
        addr_d.bytes4(&v4_of(&s.in_src), &v4_of(&s.fkey.src));
        addr_d.bytes4(&v4_of(&s.in_dst), &v4_of(&s.fkey.dst));
        unsafe {
            store32(h.add(12), u32::from_ne_bytes(v4_of(&s.fkey.src)));
            store32(h.add(16), u32::from_ne_bytes(v4_of(&s.fkey.dst)));
            let c = load16(h.add(10));
            let n = addr_d.apply(c);
            store16(h.add(10), n);
            icmp_d.add(addr_d);
            icmp_d.word(c, n);
        }
    }

    // The embedded port / echo identifier back to the legacy host's.
    let sport = s.fkey.sport_be;
    let idp = ptr_at(ctx, id_off, 2).ok_or(Counter::DropMalformed)?;
    unsafe { store16(idp, sport) };
    icmp_d.word(nat_port, sport);
    // Its transport checksum, if the router quoted that much.
    if let Some(cp) = ptr_at(ctx, csum_off, 2) {
        let mut d = if in_proto == ipproto::ICMP { Delta::default() } else { addr_d };
        d.word(nat_port, sport);
        unsafe {
            let c = load16(cp);
            if !(in_proto == ipproto::UDP && c == 0) {
                let n = d.apply(c);
                store16(cp, n);
                icmp_d.word(c, n);
            }
        }
    }

    if v6 {
        icmp_d.add(outer_pseudo);
    }
    let cp = ptr_at(ctx, s.ip.l4() + 2, 2).ok_or(Counter::DropMalformed)?;
    unsafe {
        let c = load16(cp);
        store16(cp, icmp_d.apply(c));
    }
    count(Counter::IcmpErrorTranslated);
    Ok(Some(fib::forward(ctx.ctx, cfg, v6, &s.outer_src, &s.fkey.src)))
}
