//! Substitute-address mappings and port-NAT flow state.
//!
//! Ports and ICMP echo identifiers are stored in network byte order
//! (`*_be`), exactly as they sit in the packet, so the datapath never
//! swaps bytes on the fast path.

use crate::Addr16;

/// The mapping is usable by the datapath.
pub const MAPPING_F_ACTIVE: u32 = 1 << 0;
/// The substitute stands for a HIP host (`peer` is its HIT): the proxy's
/// ESP path carries its packets, so XDP passes them to the kernel, which
/// routes the substitute pools into the proxy's ESP TUN device.
pub const MAPPING_F_HIP: u32 = 1 << 1;

/// Value of `SUBSTITUTES` (key: the substitute address as [`Addr16`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Where traffic to the substitute really goes (pass-through mode: the
    /// peer's address; the same family as the substitute).
    pub peer: Addr16,
    /// `MAPPING_F_*`.
    pub flags: u32,
    pub _pad: u32,
}

/// A flow as the legacy host sent it: key of `NAT_FLOWS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The legacy host.
    pub src: Addr16,
    /// The substitute address it sent to.
    pub dst: Addr16,
    /// Source port (TCP/UDP) or ICMP echo identifier, network order.
    pub sport_be: u16,
    /// Destination port (TCP/UDP); 0 for ICMP echo.
    pub dport_be: u16,
    /// IP protocol (TCP, UDP, ICMP or ICMPv6).
    pub proto: u8,
    pub _pad: [u8; 3],
}

/// TCP state bits kept per flow (enough for timeouts, RFC 5382 §5:
/// established flows live long, transitory ones briefly).
pub mod tcp_state {
    pub const SYN_OUT: u8 = 1 << 0;
    pub const SYN_IN: u8 = 1 << 1;
    pub const FIN_OUT: u8 = 1 << 2;
    pub const FIN_IN: u8 = 1 << 3;
    pub const RST: u8 = 1 << 4;
    /// An ACK was seen from the legacy host after the peer's SYN.
    pub const ESTABLISHED: u8 = 1 << 5;
}

/// Value of `NAT_FLOWS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowEntry {
    /// The peer the flow was translated to (copied from the mapping at
    /// creation, so a changed mapping does not mix two peers in one flow).
    pub peer: Addr16,
    /// The proxy's port (or ICMP identifier) for this flow, network order.
    pub nat_port_be: u16,
    /// `tcp_state` bits (TCP only).
    pub tcp_state: u8,
    pub _pad: [u8; 5],
    /// bpf_ktime_get_ns() of the flow's creation and of its last packet.
    pub created_ns: u64,
    pub last_seen_ns: u64,
    /// Packets/bytes legacy -> peer and peer -> legacy.
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
}

/// A reply as it reaches the proxy: key of `NAT_REPLIES`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReplyKey {
    /// The peer (the reply's source).
    pub peer: Addr16,
    /// The peer's port (reply's source port); 0 for ICMP echo.
    pub peer_port_be: u16,
    /// The proxy's port (reply's destination port) or ICMP identifier.
    pub nat_port_be: u16,
    pub proto: u8,
    pub _pad: [u8; 3],
}
