//! AF_XDP steering (issue 5): which packets `xdp_proxy` hands to the
//! userspace ESP workers instead of the kernel.
//!
//! - LAN: a packet to a substitute whose HIP peer has an established SA
//!   pair (`XSK_SUBSTITUTES` holds it with [`XSK_F_ESTABLISHED`]);
//! - WAN: ESP (IP protocol 50) whose SPI is one of our inbound SAs
//!   (`XSK_SPIS`).
//!
//! Either goes to the AF_XDP socket of the packet's receive queue
//! (`XSKS`, indexed by queue). No socket bound there: the packet goes on
//! as before (slow path) and `xsk_missing` counts it.

/// `SteerFlags::flags`: the substitute's peer has an established SA pair
/// and a worker can send to it (next-hop MAC known).
pub const XSK_F_ESTABLISHED: u32 = 1 << 0;

/// Value of `XSK_SUBSTITUTES` (key: the substitute as [`crate::Addr16`])
/// and of `XSK_SPIS` (key: the SPI's four bytes as they sit in the packet).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SteerFlags {
    /// `XSK_F_*`.
    pub flags: u32,
    pub _pad: u32,
}
