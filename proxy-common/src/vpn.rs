//! The home agent's IP-in-IP encapsulation map (issue 7, RFC 2003): home
//! address -> where to tunnel its packets. Written by the HA daemon on every
//! binding change, read by `tc_ipip_encap` (proxy-ebpf, bin `tc-ipip`).

/// Map name: `HashMap<[u8; 4] home address, IpipBinding>`.
pub const IPIP_BINDINGS: &str = "IPIP_BINDINGS";
/// Map name: `PerCpuArray<u64>` indexed by [`IpipCounter`].
pub const IPIP_COUNTERS: &str = "IPIP_COUNTERS";
/// Most bindings (mobile nodes per home agent).
pub const IPIP_BINDINGS_MAX: u32 = 65_536;

/// Outer addresses of the tunnel for one home address, network order.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpipBinding {
    /// Outer source: the home agent's address.
    pub src: [u8; 4],
    /// Outer destination: the care-of address.
    pub care_of: [u8; 4],
}

/// Counters of `tc_ipip_encap`, stable numbers.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpipCounter {
    /// Packets encapsulated.
    Encapsulated = 0,
    /// A packet for a bound home address that could not be grown (no
    /// headroom, GSO refused): dropped.
    DropAdjustRoom = 1,
    /// Malformed IPv4 header to a bound address: dropped.
    DropMalformed = 2,
}

pub const IPIP_COUNTERS_LEN: u32 = 3;

const _: () = assert!(core::mem::size_of::<IpipBinding>() == 8);
