//! Link-layer addresses for the workers, resolved by the control plane
//! (never per packet): our interfaces' MACs (SIOCGIFHWADDR) and the WAN
//! next hop's MAC toward an SA's outer peer, from the kernel's routing and
//! neighbour tables (`ip -json route get` / `ip -json neigh`). After a
//! base exchange with the peer the kernel has that neighbour entry.

use std::{io, net::IpAddr, process::Command};

use proxy_proto::esp::outer::Mac;

/// The MAC address of interface `iface`.
pub fn interface_mac(iface: &str) -> io::Result<Mac> {
    // SAFETY: a plain datagram socket for the ioctl, closed on drop.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if iface.len() >= req.ifr_name.len() {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    for (d, s) in req.ifr_name.iter_mut().zip(iface.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR fills ifr_hwaddr of a valid ifreq.
    if unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::SIOCGIFHWADDR, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel set the hwaddr member of the union.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

fn ip_json(args: &[&str]) -> io::Result<serde_json::Value> {
    let out = Command::new("ip").arg("-json").args(args).output()?;
    if !out.status.success() {
        return Err(io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    serde_json::from_slice(&out.stdout).map_err(io::Error::other)
}

/// The MAC of the next hop toward `peer` out of `iface`: the gateway's
/// when the route has one, else the peer's own. `Ok(None)` when the kernel
/// has no usable neighbour entry (yet) or the route leaves another way.
pub fn next_hop_mac(peer: IpAddr, iface: &str) -> io::Result<Option<Mac>> {
    let route = ip_json(&["route", "get", &peer.to_string()])?;
    let r = route.get(0).ok_or_else(|| io::Error::other("no route"))?;
    if r.get("dev").and_then(|d| d.as_str()) != Some(iface) {
        return Ok(None);
    }
    let hop = r.get("gateway").and_then(|g| g.as_str()).map(str::to_string).unwrap_or_else(|| peer.to_string());
    let neigh = ip_json(&["neigh", "show", "to", &hop, "dev", iface])?;
    let Some(n) = neigh.as_array().and_then(|a| a.first()) else { return Ok(None) };
    let usable = n.get("state").and_then(|s| s.as_array()).is_some_and(|s| {
        s.iter()
            .filter_map(|x| x.as_str())
            .any(|x| matches!(x, "REACHABLE" | "STALE" | "DELAY" | "PROBE" | "PERMANENT"))
    });
    Ok(if usable { n.get("lladdr").and_then(|l| l.as_str()).and_then(parse_mac) } else { None })
}

/// Every usable neighbour entry of `iface` (IPv4 and IPv6): the legacy
/// hosts the kernel has talked to, e.g. while their first packets took
/// the slow path.
pub fn neighbours(iface: &str) -> io::Result<Vec<(IpAddr, Mac)>> {
    let v = ip_json(&["neigh", "show", "dev", iface])?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .filter(|n| usable(n))
                .filter_map(|n| {
                    let ip = n.get("dst")?.as_str()?.parse().ok()?;
                    Some((ip, parse_mac(n.get("lladdr")?.as_str()?)?))
                })
                .collect()
        })
        .unwrap_or_default())
}

fn usable(n: &serde_json::Value) -> bool {
    n.get("state").and_then(|s| s.as_array()).is_some_and(|s| {
        s.iter()
            .filter_map(|x| x.as_str())
            .any(|x| matches!(x, "REACHABLE" | "STALE" | "DELAY" | "PROBE" | "PERMANENT"))
    })
}

pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::parse_mac;

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:00:5e:10:00:fF"), Some([2, 0, 0x5e, 0x10, 0, 0xff]));
        assert_eq!(parse_mac("02:00:5e:10:00"), None);
        assert_eq!(parse_mac("02:00:5e:10:00:00:01"), None);
        assert_eq!(parse_mac("zz:00:5e:10:00:00"), None);
    }
}
