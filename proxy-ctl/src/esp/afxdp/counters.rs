//! Per-worker counters (relaxed atomics: the worker bumps them, the
//! control socket reads them). Names are stable; `proxy-ctl stats` shows
//! them as `afxdp_<name>` summed over the workers.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum WCounter {
    /// Legacy packets taken from the LAN socket.
    LanRxPackets,
    LanRxBytes,
    /// ESP packets sent on the WAN socket.
    WanTxPackets,
    WanTxBytes,
    /// ESP packets taken from the WAN socket.
    WanRxPackets,
    WanRxBytes,
    /// Opened, translated packets sent to legacy hosts on the LAN socket.
    LanTxPackets,
    LanTxBytes,
    /// The translator refused the packet (it counts why).
    DropTranslate,
    /// No outbound SA for the translated packet's peer HIT.
    DropNoSa,
    /// No MAC for the next hop (WAN) or the legacy host (LAN).
    DropNoNeighbour,
    /// No free transmit frame, or the TX ring was full.
    DropTxFull,
    /// Not Ethernet + IP, or not an ESP packet we take.
    DropMalformed,
}

pub const NAMES: [&str; 13] = [
    "lan_rx_packets",
    "lan_rx_bytes",
    "wan_tx_packets",
    "wan_tx_bytes",
    "wan_rx_packets",
    "wan_rx_bytes",
    "lan_tx_packets",
    "lan_tx_bytes",
    "drop_translate",
    "drop_no_sa",
    "drop_no_neighbour",
    "drop_tx_full",
    "drop_malformed",
];

#[derive(Debug, Default)]
pub struct WorkerCounters([AtomicU64; NAMES.len()]);

impl WorkerCounters {
    pub fn add(&self, c: WCounter, n: u64) {
        self.0[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self, c: WCounter) {
        self.add(c, 1);
    }

    pub fn get(&self, c: WCounter) -> u64 {
        self.0[c as usize].load(Ordering::Relaxed)
    }

    pub fn list(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        NAMES.iter().zip(&self.0).map(|(n, v)| (*n, v.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_variants() {
        let c = WorkerCounters::default();
        c.add(WCounter::DropMalformed, 2);
        c.inc(WCounter::LanRxPackets);
        let l: Vec<_> = c.list().collect();
        assert_eq!(l.len(), NAMES.len());
        assert_eq!(l[WCounter::DropMalformed as usize], ("drop_malformed", 2));
        assert_eq!(l[WCounter::LanRxPackets as usize], ("lan_rx_packets", 1));
    }
}
