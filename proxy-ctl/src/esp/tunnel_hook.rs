//! The hook a tunnel-mode SA's owner sets on the host data path: the
//! mobile VPN's node and gateway (issue 7) decide per packet what an
//! opened tunnel packet is (data for the kernel, a Mobile IP message for
//! their control plane, or something to drop), and the node strips the
//! home agent's IP-in-IP (RFC 2003) right after ESP.
//!
//! Called in the receive worker with no lock held besides the SA table's
//! read lock, so a hook must be quick and must not block; it counts its own
//! drops. BEET SAs never reach it.

use std::{net::IpAddr, ops::Range};

/// One ESP packet for a tunnel-mode SA, as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub spi: u32,
    /// Outer source (a care-of address at the gateway).
    pub src: IpAddr,
    /// Outer destination (IPv4 only: an IPv6 raw socket does not hand it).
    pub dst: Option<IpAddr>,
    /// The SA's outer addresses at this moment (they move on a handover).
    pub local: IpAddr,
    pub peer: IpAddr,
}

/// What becomes of an opened inner packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Write this part of the inner packet (all of it, or what is left
    /// after a decapsulation) to the TUN device.
    Deliver(Range<usize>),
    /// The hook took a copy for its control plane; deliver nothing.
    Taken,
    /// Drop it (the hook counted why).
    Drop,
}

pub trait TunnelHook: Send + Sync {
    /// Before the packet is opened (no crypto spent, replay window
    /// untouched): false drops it.
    fn before_open(&self, _arrival: &Arrival) -> bool {
        true
    }

    /// The opened inner packet `inner` (authentic, not a replay).
    fn opened(&self, arrival: &Arrival, inner: &[u8]) -> Verdict;
}
