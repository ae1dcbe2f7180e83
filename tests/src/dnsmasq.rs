//! dnsmasq as the tests' real upstream DNS server (the proxy's upstream,
//! serving HIP RRs with `--dns-rr`, RFC 8005).

use crate::{Background, Netns, sh_try, wait_until};

/// A dnsmasq in a namespace; dropping it stops it.
pub struct Dnsmasq {
    _running: Background,
}

impl Dnsmasq {
    /// dnsmasq in `ns` on the `listen` addresses (comma-separated),
    /// authoritative for `example.` with `records` (dnsmasq options);
    /// returns once it answers `ready.example` at `check`.
    pub fn start(ns: &Netns, listen: &str, check: &str, records: &[String]) -> Dnsmasq {
        // `--pid-file=` (none): every dnsmasq otherwise unlinks and
        // recreates /run/dnsmasq.pid with O_EXCL, so of two starting at
        // once one can exit with "failed to open pidfile ... File
        // exists", which made parallel tests fail at random.
        let d = Dnsmasq {
            _running: Background::spawn(
                ns,
                &format!(
                    "dnsmasq --keep-in-foreground --pid-file= --no-resolv --no-hosts --conf-file=/dev/null \
                     --bind-interfaces --listen-address={listen} --local=/example/ \
                     --host-record=ready.example,192.0.2.99 {}",
                    records.join(" ")
                ),
            ),
        };
        let answers =
            || sh_try(&format!("ip netns exec {} kdig @{check} ready.example A +short +timeout=1", ns.name)).1;
        assert!(wait_until(10, || answers().contains("192.0.2.99")), "dnsmasq did not come up in {}", ns.name);
        d
    }
}
