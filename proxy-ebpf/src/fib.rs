//! Forwarding a translated packet: straight out of XDP when the FIB knows
//! the next hop and its MAC (bpf_fib_lookup + bpf_redirect), else through
//! the kernel's own forwarding path (XDP_PASS), which resolves neighbours.

use aya_ebpf::{
    bindings::{BPF_FIB_LKUP_RET_SUCCESS, bpf_fib_lookup, xdp_action, xdp_md},
    helpers::{bpf_fib_lookup as fib_lookup, bpf_redirect},
    programs::XdpContext,
};
use proxy_common::{Addr16, config::CFG_F_REDIRECT, config::DatapathConfig, counters::Counter};
use proxy_ebpf::{load16, ptr_at, store16};

use crate::{
    csum::Delta,
    maps::count,
    packet::{ETH_HLEN, v4_of},
};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Not inlined: the FIB lookup parameters get a stack frame of their own.
#[inline(never)]
pub fn forward(raw: *mut xdp_md, cfg: &DatapathConfig, v6: bool, src: &Addr16, dst: &Addr16) -> u32 {
    let ctx = &XdpContext::new(raw);
    if cfg.flags & CFG_F_REDIRECT == 0 {
        count(Counter::PassedToKernel);
        return xdp_action::XDP_PASS;
    }
    let mut p: bpf_fib_lookup = unsafe { core::mem::zeroed() };
    p.ifindex = ctx.ingress_ifindex() as u32;
    let len = (ctx.data_end() - ctx.data() - ETH_HLEN) as u16;
    p.__bindgen_anon_1.tot_len = len;
    if v6 {
        p.family = AF_INET6;
        p.__bindgen_anon_3.ipv6_src = unsafe { core::mem::transmute::<Addr16, [u32; 4]>(*src) };
        p.__bindgen_anon_4.ipv6_dst = unsafe { core::mem::transmute::<Addr16, [u32; 4]>(*dst) };
    } else {
        p.family = AF_INET;
        p.__bindgen_anon_3.ipv4_src = u32::from_ne_bytes(v4_of(src));
        p.__bindgen_anon_4.ipv4_dst = u32::from_ne_bytes(v4_of(dst));
    }
    let rc = unsafe { fib_lookup(ctx.ctx as *mut _, &mut p, core::mem::size_of::<bpf_fib_lookup>() as i32, 0) };
    if rc != BPF_FIB_LKUP_RET_SUCCESS as i64 {
        // No neighbour entry yet, MTU exceeded, or not forwardable: the
        // kernel handles it (and learns the neighbour for the next packet).
        count(Counter::PassedToKernel);
        return xdp_action::XDP_PASS;
    }
    // We forward, so we are the router that decrements TTL / hop limit.
    if v6 {
        match ptr_at(ctx, ETH_HLEN + 7, 1) {
            Some(h) => unsafe { *h -= 1 },
            None => return xdp_action::XDP_PASS,
        }
    } else {
        let Some(h) = ptr_at(ctx, ETH_HLEN, 20) else {
            return xdp_action::XDP_PASS;
        };
        unsafe {
            let old = load16(h.add(8));
            *h.add(8) -= 1;
            let new = load16(h.add(8));
            let mut d = Delta::default();
            d.word(old, new);
            let c = load16(h.add(10));
            store16(h.add(10), d.apply(c));
        }
    }
    let Some(eth) = ptr_at(ctx, 0, ETH_HLEN) else {
        return xdp_action::XDP_PASS;
    };
    unsafe {
        *(eth as *mut [u8; 6]) = p.dmac;
        *(eth.add(6) as *mut [u8; 6]) = p.smac;
    }
    count(Counter::Redirected);
    unsafe { bpf_redirect(p.ifindex, 0) as u32 }
}
