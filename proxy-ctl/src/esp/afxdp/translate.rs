//! The seam between the workers and the port NAT: what a worker asks of
//! the translator (`proxy_proto::esp::proxy::Translator`, the proxy's
//! legacy host <-> HIT translation). A trait so the workers' plumbing is
//! testable with a trivial translator, and the engine does not care which
//! one the role provides.

/// Legacy packets <-> BEET inner packets (IPv6 HIT -> HIT).
pub trait Translate: Send + Sync {
    /// A legacy host's packet (from the IP header) to a substitute -> the
    /// inner IPv6 packet HIT -> HIT written to `out`: its length, or `None`
    /// when dropped (the translator counts why).
    fn outbound(&self, pkt: &[u8], now_secs: u64, out: &mut [u8]) -> Option<usize>;
    /// An opened inner packet HIT -> HIT -> the legacy host's packet
    /// (source = its substitute) written to `out`.
    fn inbound(&self, pkt: &[u8], now_secs: u64, out: &mut [u8]) -> Option<usize>;
}

/// The proxy's translator; its drops are counted in its own counters.
impl Translate for proxy_proto::esp::proxy::Translator {
    fn outbound(&self, pkt: &[u8], now_secs: u64, out: &mut [u8]) -> Option<usize> {
        proxy_proto::esp::proxy::Translator::outbound(self, pkt, now_secs, out).ok()
    }

    fn inbound(&self, pkt: &[u8], now_secs: u64, out: &mut [u8]) -> Option<usize> {
        proxy_proto::esp::proxy::Translator::inbound(self, pkt, now_secs, out).ok()
    }
}
