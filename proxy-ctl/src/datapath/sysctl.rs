//! The kernel settings the datapath relies on.
//!
//! - Forwarding: packets the XDP program cannot send itself (no neighbour
//!   entry yet, `redirect = false`) take the kernel's forwarding path.
//! - `accept_local` on the proxy's interfaces: a translated IPv4 packet
//!   handed to the kernel carries the proxy's own address as source; without
//!   it Linux drops it as a martian (IPv6 has no such check).

use std::path::Path;

use tracing::info;

fn set(path: &str, value: &str) -> std::io::Result<()> {
    let p = Path::new(path);
    let old = std::fs::read_to_string(p)?;
    if old.trim() != value {
        std::fs::write(p, value)?;
        info!(sysctl = %path.trim_start_matches("/proc/sys/").replace('/', "."), from = old.trim(), to = value, "set");
    }
    Ok(())
}

pub fn apply(ifaces: &[String], v4: bool, v6: bool) -> std::io::Result<()> {
    if v4 {
        set("/proc/sys/net/ipv4/ip_forward", "1")?;
        for i in ifaces {
            set(&format!("/proc/sys/net/ipv4/conf/{i}/accept_local"), "1")?;
        }
    }
    if v6 {
        set("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
    }
    Ok(())
}
