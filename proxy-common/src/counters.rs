//! Datapath counters, per CPU, indexed by a stable number: a counter's
//! number never changes meaning (a retired one becomes `Unused`), so
//! figures from different versions can be compared.

/// What happened to a packet. `Drop*` are drops; the rest count events.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Every packet the XDP program saw.
    RxPackets = 0,
    /// Legacy host -> substitute, rewritten toward the peer.
    NatForward = 1,
    /// Peer -> proxy port, rewritten back toward the legacy host.
    NatReverse = 2,
    /// A new NAT flow was created.
    NatFlowCreated = 3,
    /// An ICMP error about a translated flow was translated.
    IcmpErrorTranslated = 4,
    /// Translated packet sent out with bpf_redirect after a FIB lookup.
    Redirected = 5,
    /// Translated packet handed to the kernel's forwarding path.
    PassedToKernel = 6,
    /// Not ours (no substitute, no NAT port): passed untouched.
    NotOurs = 7,
    /// Destination in a substitute pool, but no mapping for it.
    DropNoMapping = 8,
    /// No free proxy port for this peer address/port after the bounded search.
    DropPortsExhausted = 9,
    /// The NAT flow table is full.
    DropFlowTableFull = 10,
    /// Header truncated or inconsistent.
    DropMalformed = 11,
    /// IP fragment to a substitute: ports are not visible, cannot translate.
    DropFragment = 12,
    /// Protocol we cannot translate (e.g. not TCP/UDP/ICMP echo) to a substitute.
    DropUnsupportedProto = 13,
    /// Mapping peer of the other IP family (NAT46 is not done in pass-through mode).
    DropFamilyMismatch = 14,
    /// TTL / hop limit would expire: handed to the kernel untranslated so it
    /// answers with ICMP time exceeded.
    TtlExpired = 15,
    /// A DNS query from the LAN to another resolver address, steered to
    /// the proxy's resolver (TC ingress on the LAN interface).
    DnsSteered = 16,
    /// A DNS answer of the proxy's resolver given back the source address
    /// the legacy host asked (TC egress on the LAN interface).
    DnsAnswerRestored = 17,
    /// A LAN packet to a substitute with an established SA pair, handed
    /// to the AF_XDP ESP worker of its queue.
    XskSteeredLan = 18,
    /// An ESP packet with one of our inbound SPIs, handed to the AF_XDP
    /// ESP worker of its queue.
    XskSteeredEsp = 19,
    /// Would have been steered, but no AF_XDP socket is bound on its
    /// queue: it went the slow path instead.
    XskMissing = 20,
}

impl Counter {
    /// Size of the COUNTERS array: one past the highest number.
    pub const COUNT: u32 = 21;

    pub const ALL: [Counter; Self::COUNT as usize] = [
        Counter::RxPackets,
        Counter::NatForward,
        Counter::NatReverse,
        Counter::NatFlowCreated,
        Counter::IcmpErrorTranslated,
        Counter::Redirected,
        Counter::PassedToKernel,
        Counter::NotOurs,
        Counter::DropNoMapping,
        Counter::DropPortsExhausted,
        Counter::DropFlowTableFull,
        Counter::DropMalformed,
        Counter::DropFragment,
        Counter::DropUnsupportedProto,
        Counter::DropFamilyMismatch,
        Counter::TtlExpired,
        Counter::DnsSteered,
        Counter::DnsAnswerRestored,
        Counter::XskSteeredLan,
        Counter::XskSteeredEsp,
        Counter::XskMissing,
    ];

    /// The name operators see in `proxy-ctl stats`.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::RxPackets => "rx_packets",
            Counter::NatForward => "nat_forward",
            Counter::NatReverse => "nat_reverse",
            Counter::NatFlowCreated => "nat_flow_created",
            Counter::IcmpErrorTranslated => "icmp_error_translated",
            Counter::Redirected => "redirected",
            Counter::PassedToKernel => "passed_to_kernel",
            Counter::NotOurs => "not_ours",
            Counter::DropNoMapping => "drop_no_mapping",
            Counter::DropPortsExhausted => "drop_ports_exhausted",
            Counter::DropFlowTableFull => "drop_flow_table_full",
            Counter::DropMalformed => "drop_malformed",
            Counter::DropFragment => "drop_fragment",
            Counter::DropUnsupportedProto => "drop_unsupported_proto",
            Counter::DropFamilyMismatch => "drop_family_mismatch",
            Counter::TtlExpired => "ttl_expired",
            Counter::DnsSteered => "dns_steered",
            Counter::DnsAnswerRestored => "dns_answer_restored",
            Counter::XskSteeredLan => "xsk_steered_lan",
            Counter::XskSteeredEsp => "xsk_steered_esp",
            Counter::XskMissing => "xsk_missing",
        }
    }
}

// The index must fit the array; a new counter must extend ALL and COUNT.
const _: () = assert!(Counter::ALL.len() == Counter::COUNT as usize);
