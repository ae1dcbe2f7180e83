//! Map keys, values and constants shared by the eBPF datapath (`proxy-ebpf`)
//! and the control plane (`proxy-ctl`).
//!
//! Every type is `#[repr(C)]` with explicit padding so both sides agree on
//! the layout byte for byte; no logic lives here beyond tiny accessors.
#![no_std]

pub mod config;
pub mod counters;
pub mod dns;
pub mod maps;
pub mod nat;
pub mod vpn;
pub mod xsk;

#[cfg(feature = "user")]
mod user;

/// An IP address in the 16-byte form both families share in map keys:
/// IPv6 as is, IPv4 as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
/// RFC 4291 §2.5.5.2), so one key type serves both families.
pub type Addr16 = [u8; 16];

/// The IPv4-mapped form of an IPv4 address.
#[inline(always)]
pub const fn v4_mapped(a: [u8; 4]) -> Addr16 {
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a[0], a[1], a[2], a[3]]
}

/// IP protocol numbers the datapath handles.
pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ESP: u8 = 50;
    pub const ICMPV6: u8 = 58;
    pub const HIP: u8 = 139;
}

// The layouts both sides rely on; a change here is a change of the pinned
// maps' format (restart with `proxy-ctl run --reset-state`).
const _: () = assert!(core::mem::size_of::<nat::FlowKey>() == 40);
const _: () = assert!(core::mem::size_of::<nat::FlowEntry>() == 72);
const _: () = assert!(core::mem::size_of::<nat::ReplyKey>() == 24);
const _: () = assert!(core::mem::size_of::<nat::Mapping>() == 24);
const _: () = assert!(core::mem::size_of::<config::DatapathConfig>() == 80);
const _: () = assert!(core::mem::size_of::<dns::DnsSteerConfig>() == 56);
const _: () = assert!(core::mem::size_of::<dns::SteerKey>() == 20);
const _: () = assert!(core::mem::size_of::<dns::SteerEntry>() == 24);
const _: () = assert!(core::mem::size_of::<xsk::SteerFlags>() == 8);
