//! When a NAT flow has been idle long enough to forget it.
//!
//! RFC 5382 §5 (REQ-5): an established TCP flow may not be dropped before
//! 2 h 4 min idle; transitory states (SYN sent, one FIN seen) get a short
//! timeout, 4 min by default; a flow closed in both directions or reset
//! lingers only briefly. RFC 4787 REQ-5: UDP >= 2 min, 5 min recommended.

use proxy_common::{ipproto, nat::tcp_state};

use crate::config::NatSection;

/// The idle timeout, in nanoseconds, of a flow of `proto` in `state`.
pub fn idle_timeout_ns(proto: u8, state: u8, nat: &NatSection) -> u64 {
    let secs = match proto {
        ipproto::TCP => {
            let closed_both = state & tcp_state::FIN_OUT != 0 && state & tcp_state::FIN_IN != 0;
            if state & tcp_state::RST != 0 || closed_both {
                nat.tcp_closed_secs
            } else if state & tcp_state::ESTABLISHED != 0 && state & (tcp_state::FIN_OUT | tcp_state::FIN_IN) == 0 {
                nat.tcp_established_secs
            } else {
                nat.tcp_transitory_secs
            }
        }
        ipproto::UDP => nat.udp_secs,
        _ => nat.icmp_secs,
    };
    secs.saturating_mul(1_000_000_000)
}

/// Whether a flow last seen at `last_seen_ns` is expired at `now_ns`
/// (both CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns).
pub fn expired(proto: u8, state: u8, last_seen_ns: u64, now_ns: u64, nat: &NatSection) -> bool {
    now_ns.saturating_sub(last_seen_ns) >= idle_timeout_ns(proto, state, nat)
}

/// A short human name for a TCP state set, as `proxy-ctl nat list` shows it.
pub fn state_name(proto: u8, state: u8) -> &'static str {
    if proto != ipproto::TCP {
        return "-";
    }
    if state & tcp_state::RST != 0 {
        "reset"
    } else if state & tcp_state::FIN_OUT != 0 && state & tcp_state::FIN_IN != 0 {
        "closed"
    } else if state & (tcp_state::FIN_OUT | tcp_state::FIN_IN) != 0 {
        "closing"
    } else if state & tcp_state::ESTABLISHED != 0 {
        "established"
    } else if state & tcp_state::SYN_IN != 0 {
        "syn-received"
    } else {
        "syn-sent"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn tcp_states_get_their_timeouts() {
        let n = NatSection::default();
        let est = tcp_state::SYN_OUT | tcp_state::SYN_IN | tcp_state::ESTABLISHED;
        assert_eq!(idle_timeout_ns(ipproto::TCP, est, &n), 7440 * S);
        assert_eq!(idle_timeout_ns(ipproto::TCP, tcp_state::SYN_OUT, &n), 240 * S);
        assert_eq!(idle_timeout_ns(ipproto::TCP, est | tcp_state::FIN_OUT, &n), 240 * S);
        assert_eq!(idle_timeout_ns(ipproto::TCP, est | tcp_state::FIN_OUT | tcp_state::FIN_IN, &n), 10 * S);
        assert_eq!(idle_timeout_ns(ipproto::TCP, est | tcp_state::RST, &n), 10 * S);
        assert_eq!(idle_timeout_ns(ipproto::UDP, 0, &n), 300 * S);
        assert_eq!(idle_timeout_ns(ipproto::ICMP, 0, &n), 60 * S);
    }

    #[test]
    fn expiry_is_idle_time_not_age() {
        let n = NatSection::default();
        assert!(!expired(ipproto::UDP, 0, 1000 * S, 1299 * S, &n));
        assert!(expired(ipproto::UDP, 0, 1000 * S, 1300 * S, &n));
        // A clock that went "backwards" (last_seen written after now was read) is not expiry.
        assert!(!expired(ipproto::UDP, 0, 1000 * S, 999 * S, &n));
    }

    #[test]
    fn state_names() {
        assert_eq!(state_name(ipproto::TCP, tcp_state::SYN_OUT), "syn-sent");
        assert_eq!(
            state_name(ipproto::TCP, tcp_state::SYN_OUT | tcp_state::SYN_IN | tcp_state::ESTABLISHED),
            "established"
        );
        assert_eq!(state_name(ipproto::UDP, 0), "-");
    }
}
