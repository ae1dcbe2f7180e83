//! Why the translator refused a packet, and the counters it keeps.

use core::sync::atomic::{AtomicU64, Ordering};

/// Why [`super::Translator`] did not translate a packet. Every variant is
/// counted ([`TranslatorCounters`]); the caller drops the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Drop {
    /// Outbound: the destination is not a substitute the control plane
    /// mapped to a HIP peer.
    #[error("destination is not a mapped substitute")]
    NoMapping,
    /// Inbound: no flow matches the reply (expired, never opened, or
    /// forged): RFC 4787 REQ-8 filtering.
    #[error("no flow for this packet")]
    NoFlow,
    /// A well-formed packet the translator does not carry: IP fragments,
    /// IPv6 extension headers, protocols other than TCP/UDP/ICMP echo,
    /// ICMP errors and other ICMP types.
    #[error("packet not translatable")]
    NotTranslatable,
    /// The flow table is at its bound, or no NAT port is free.
    #[error("flow table full")]
    FlowTableFull,
    /// Truncated or inconsistent headers.
    #[error("malformed packet")]
    Malformed,
    /// The output buffer cannot hold the translated packet.
    #[error("output buffer too small")]
    NoRoom,
}

impl Drop {
    pub const ALL: [Drop; 6] =
        [Drop::NoMapping, Drop::NoFlow, Drop::NotTranslatable, Drop::FlowTableFull, Drop::Malformed, Drop::NoRoom];

    /// Stable snake_case name, as counters and logs show it.
    pub const fn name(self) -> &'static str {
        match self {
            Drop::NoMapping => "no_mapping",
            Drop::NoFlow => "no_flow",
            Drop::NotTranslatable => "not_translatable",
            Drop::FlowTableFull => "flow_table_full",
            Drop::Malformed => "malformed",
            Drop::NoRoom => "no_room",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A snapshot of the translator's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TranslatorCounters {
    /// Packets translated legacy -> peer and peer -> legacy.
    pub outbound: u64,
    pub inbound: u64,
    pub flows_created: u64,
    pub flows_expired: u64,
    /// Flows alive at the time of the snapshot.
    pub flows_active: u64,
    /// TCP SYNs whose MSS option was lowered.
    pub mss_clamped: u64,
    /// ICMPv6 errors from the HIP side translated back to a legacy host.
    pub icmp_errors: u64,
    /// Drops, indexed like [`Drop::ALL`].
    pub drops: [u64; Drop::ALL.len()],
}

impl TranslatorCounters {
    pub fn drop_count(&self, d: Drop) -> u64 {
        self.drops[d.index()]
    }

    /// `(name, value)` for every counter, drops as `drop_<reason>`.
    pub fn named(&self) -> Vec<(String, u64)> {
        let mut v = vec![
            ("outbound".to_string(), self.outbound),
            ("inbound".to_string(), self.inbound),
            ("flows_created".to_string(), self.flows_created),
            ("flows_expired".to_string(), self.flows_expired),
            ("flows_active".to_string(), self.flows_active),
            ("mss_clamped".to_string(), self.mss_clamped),
            ("icmp_errors".to_string(), self.icmp_errors),
        ];
        for d in Drop::ALL {
            v.push((format!("drop_{}", d.name()), self.drop_count(d)));
        }
        v
    }
}

/// The live counters (relaxed atomics: shared by every worker thread).
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub outbound: AtomicU64,
    pub inbound: AtomicU64,
    pub flows_created: AtomicU64,
    pub flows_expired: AtomicU64,
    pub mss_clamped: AtomicU64,
    pub icmp_errors: AtomicU64,
    drops: [AtomicU64; Drop::ALL.len()],
}

impl Counters {
    pub fn count(&self, d: Drop) -> Drop {
        self.drops[d.index()].fetch_add(1, Ordering::Relaxed);
        d
    }

    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self, flows_active: u64) -> TranslatorCounters {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut drops = [0; Drop::ALL.len()];
        for (d, c) in drops.iter_mut().zip(&self.drops) {
            *d = r(c);
        }
        TranslatorCounters {
            outbound: r(&self.outbound),
            inbound: r(&self.inbound),
            flows_created: r(&self.flows_created),
            flows_expired: r(&self.flows_expired),
            flows_active,
            mss_clamped: r(&self.mss_clamped),
            icmp_errors: r(&self.icmp_errors),
            drops,
        }
    }
}
