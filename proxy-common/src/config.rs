//! The datapath's configuration, written once by the daemon at start-up
//! (and on reload) into the one-entry `CONFIG` array.

use crate::Addr16;

/// Forward translated packets with `bpf_fib_lookup` + `bpf_redirect` from
/// XDP (fast). Without it the rewritten packet goes up the kernel's
/// forwarding path (`XDP_PASS`), which needs `ip_forward=1`.
pub const CFG_F_REDIRECT: u32 = 1 << 0;
/// The IPv4 fields are set (the proxy has an IPv4 address on the WAN).
pub const CFG_F_HAVE_V4: u32 = 1 << 1;
/// The IPv6 fields are set.
pub const CFG_F_HAVE_V6: u32 = 1 << 2;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatapathConfig {
    /// The proxy's own WAN address for IPv4 flows (IPv4-mapped).
    pub wan_v4: Addr16,
    /// The proxy's own WAN address for IPv6 flows.
    pub wan_v6: Addr16,
    /// IPv4 substitute pool (IPv4-mapped network address) and prefix length
    /// (0..=32). Packets to the pool without a mapping are dropped and
    /// counted rather than routed somewhere wrong.
    pub pool_v4: Addr16,
    /// IPv6 substitute pool and prefix length (0..=128).
    pub pool_v6: Addr16,
    pub pool_v4_len: u8,
    pub pool_v6_len: u8,
    pub _pad0: [u8; 2],
    /// Proxy ports handed out by the port NAT, inclusive, host byte order.
    pub port_min: u16,
    pub port_max: u16,
    /// `CFG_F_*` flags.
    pub flags: u32,
    pub _pad1: u32,
}

impl DatapathConfig {
    /// Number of proxy ports the NAT may hand out.
    #[inline(always)]
    pub const fn port_range(&self) -> u32 {
        if self.port_max < self.port_min { 0 } else { (self.port_max - self.port_min) as u32 + 1 }
    }
}
