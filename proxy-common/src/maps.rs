//! Every BPF map of the datapath, in one place: its name (as pinned under
//! the daemon's bpffs directory) and its size. `proxy-ebpf` declares them
//! with these names; `proxy-ctl` opens them by these names.

/// Substitute address -> [`crate::nat::Mapping`]. Written by the control
/// plane (CLI, DNS interception), read per packet.
pub const SUBSTITUTES: &str = "SUBSTITUTES";
pub const SUBSTITUTES_MAX: u32 = 65_536;

/// Forward flow as the legacy host sent it ([`crate::nat::FlowKey`]) ->
/// [`crate::nat::FlowEntry`]. Created by the datapath on a flow's first
/// packet, expired by the daemon's garbage collector.
pub const NAT_FLOWS: &str = "NAT_FLOWS";
pub const NAT_FLOWS_MAX: u32 = 262_144;

/// Reply as it reaches the proxy ([`crate::nat::ReplyKey`]) -> the forward
/// [`crate::nat::FlowKey`]. Its presence is what reserves a proxy port.
pub const NAT_REPLIES: &str = "NAT_REPLIES";

/// One [`crate::config::DatapathConfig`] at index 0.
pub const CONFIG: &str = "CONFIG";

/// Per-CPU u64 counters indexed by [`crate::counters::Counter`].
pub const COUNTERS: &str = "COUNTERS";

/// One [`crate::dns::DnsSteerConfig`] at index 0: where steered DNS
/// queries go. Written by the daemon at start (not pinned).
pub const DNS_STEER_CONFIG: &str = "DNS_STEER_CONFIG";

/// LRU: [`crate::dns::SteerKey`] -> [`crate::dns::SteerEntry`], the
/// resolver address a legacy host asked, so its answer can come from
/// there. Written per steered query by the TC ingress program.
pub const DNS_STEERED: &str = "DNS_STEERED";
pub const DNS_STEERED_MAX: u32 = 16_384;

/// XSKMAP: receive queue -> the AF_XDP socket of that queue's ESP worker
/// (written by the daemon when its workers start; not pinned: the sockets
/// die with the daemon).
pub const XSKS: &str = "XSKS";
pub const XSKS_MAX: u32 = 64;

/// Substitute -> [`crate::xsk::SteerFlags`]: substitutes whose traffic the
/// AF_XDP workers carry (their peer's SA pair is installed).
pub const XSK_SUBSTITUTES: &str = "XSK_SUBSTITUTES";
/// SPI (packet bytes) -> [`crate::xsk::SteerFlags`]: inbound SAs whose ESP
/// the AF_XDP workers open.
pub const XSK_SPIS: &str = "XSK_SPIS";
pub const XSK_STEER_MAX: u32 = 16_384;
