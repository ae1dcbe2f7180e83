//! The `host` role's view of its own addresses, from rtnetlink (IPv4 and
//! IPv6): one dump (RTM_GETADDR) at start, then RTM_NEWADDR / RTM_DELADDR
//! notifications applied to that set as they arrive, so a change costs
//! one parse and no re-scan of every interface.
//!
//! Only addresses a HIP association can use as locators count: no
//! loopback, no link-local (fe80::/10, 169.254/16), no HIT (ORCHID,
//! 2001:10::/28 and 2001:20::/28: our own TUN device carries one, and an
//! identifier is never a locator, RFC 7401 §3), no IPv6 address still
//! in duplicate address detection or that failed it (RFC 4862 §5.4:
//! a tentative address must not be used; the kernel announces it again
//! with the flag cleared when DAD is over), none the kernel marked
//! deprecated (RFC 4862 §5.5.4: not for new communication).

use std::{
    collections::BTreeSet,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use anyhow::Context;
use tokio::io::unix::AsyncFd;

const NLMSG_HDRLEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const IFA_F_DADFAILED: u32 = 0x08;
const IFA_F_DEPRECATED: u32 = 0x20;
const IFA_F_TENTATIVE: u32 = 0x40;

/// One address notification (or dump entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrMsg {
    pub added: bool,
    pub ifindex: u32,
    pub addr: IpAddr,
    /// IFA_F_* flags (the IFA_FLAGS attribute when present: it has the
    /// bits that do not fit the header's byte).
    pub flags: u32,
}

impl AddrMsg {
    /// Whether the address may be announced as a locator now.
    pub fn usable(&self) -> bool {
        usable_address(self.addr) && self.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED) == 0
    }
}

/// Unicast, not loopback, not link-local, not unspecified, not a HIT.
pub fn usable_address(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || v4.is_multicast()),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let orchid = s[0] == 0x2001 && matches!(s[1] & 0xfff0, 0x0010 | 0x0020);
            !(v6.is_loopback() || v6.is_unicast_link_local() || v6.is_unspecified() || v6.is_multicast() || orchid)
                && v6.to_ipv4_mapped().is_none()
        }
    }
}

/// Parse a netlink datagram of address messages. Malformed or other
/// messages are skipped; `done` is set by NLMSG_DONE / NLMSG_ERROR (end of
/// a dump).
pub fn parse(b: &[u8], done: &mut bool) -> Vec<AddrMsg> {
    let mut out = Vec::new();
    for (ty, body) in messages(b) {
        match ty {
            RTM_NEWADDR | RTM_DELADDR => {
                if let Some(mut m) = parse_ifaddr(body) {
                    m.added = ty == RTM_NEWADDR;
                    out.push(m);
                }
            }
            NLMSG_DONE | NLMSG_ERROR => *done = true,
            _ => {}
        }
    }
    out
}

/// The (type, body) of each whole message in a netlink datagram, in
/// order; ends at the first length that does not fit (a truncated or
/// lying datagram yields what came before it).
pub(crate) fn messages(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> + '_ {
    let mut b = b;
    std::iter::from_fn(move || {
        if b.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        if len < NLMSG_HDRLEN || len > b.len() {
            return None;
        }
        let body = &b[NLMSG_HDRLEN..len];
        b = b.get((len + 3) & !3..).unwrap_or(&[]);
        Some((ty, body))
    })
}

/// A netlink message of type `ty` around `body`, padded to 4 octets
/// (tests of this module and of the VPN's watcher).
#[cfg(test)]
pub(crate) fn nlmsg(ty: u16, body: &[u8]) -> Vec<u8> {
    let len = (NLMSG_HDRLEN + body.len()) as u32;
    let mut m = len.to_ne_bytes().to_vec();
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&[0; 10]);
    m.extend_from_slice(body);
    while !m.len().is_multiple_of(4) {
        m.push(0);
    }
    m
}

/// One RTM_NEWADDR/RTM_DELADDR body (ifaddrmsg + attributes), IPv4 or
/// IPv6; `added` is left false for the caller.
pub(crate) fn parse_ifaddr(body: &[u8]) -> Option<AddrMsg> {
    if body.len() < IFADDRMSG_LEN {
        return None;
    }
    let family = i32::from(body[0]);
    let alen = match family {
        libc::AF_INET => 4,
        libc::AF_INET6 => 16,
        _ => return None,
    };
    let mut flags = u32::from(body[2]);
    let ifindex = u32::from_ne_bytes(body[4..8].try_into().ok()?);
    let (mut local, mut address) = (None, None);
    let mut a = &body[IFADDRMSG_LEN..];
    while a.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([a[0], a[1]]));
        let ty = u16::from_ne_bytes([a[2], a[3]]);
        if len < 4 || len > a.len() {
            return None;
        }
        let v = &a[4..len];
        match ty {
            IFA_LOCAL if v.len() == alen => local = Some(v),
            IFA_ADDRESS if v.len() == alen => address = Some(v),
            IFA_FLAGS if v.len() == 4 => flags = u32::from_ne_bytes(v.try_into().ok()?),
            _ => {}
        }
        a = a.get((len + 3) & !3..).unwrap_or(&[]);
    }
    // IFA_LOCAL is our address; IFA_ADDRESS is the peer's on a
    // point-to-point link, ours otherwise (IPv6 usually sends only it).
    let v = local.or(address)?;
    let addr = if alen == 4 {
        IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))
    } else {
        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))
    };
    Some(AddrMsg { added: false, ifindex, addr, flags })
}

/// The usable addresses, by (ifindex, address).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AddrSet(BTreeSet<(u32, IpAddr)>);

impl AddrSet {
    /// Apply one message; whether the set changed. An address that turns
    /// tentative or deprecated leaves the set; one whose DAD is over joins.
    pub fn apply(&mut self, m: &AddrMsg) -> bool {
        if m.added && m.usable() { self.0.insert((m.ifindex, m.addr)) } else { self.0.remove(&(m.ifindex, m.addr)) }
    }

    /// The addresses, sorted, each once.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self.0.iter().map(|(_, a)| *a).collect();
        v.sort();
        v.dedup();
        v
    }
}

fn netlink_socket(groups: u32, nonblocking: bool) -> anyhow::Result<OwnedFd> {
    let ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: socket(2) with constant arguments.
    let raw = unsafe { libc::socket(libc::AF_NETLINK, ty, libc::NETLINK_ROUTE) };
    if raw < 0 {
        return Err(io::Error::last_os_error()).context("netlink socket");
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as _;
    sa.nl_groups = groups;
    // SAFETY: sa is valid for its size.
    let r = unsafe {
        libc::bind(fd.as_raw_fd(), (&sa as *const libc::sockaddr_nl).cast(), size_of::<libc::sockaddr_nl>() as u32)
    };
    if r < 0 {
        return Err(io::Error::last_os_error()).context("binding netlink");
    }
    Ok(fd)
}

/// Every address configured now (RTM_GETADDR dump, both families), as
/// the usable set.
pub fn dump() -> anyhow::Result<AddrSet> {
    let fd = netlink_socket(0, false)?;
    let mut req = [0u8; NLMSG_HDRLEN + IFADDRMSG_LEN];
    req[0..4].copy_from_slice(&((NLMSG_HDRLEN + IFADDRMSG_LEN) as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&RTM_GETADDR.to_ne_bytes());
    req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // ifaddrmsg: family AF_UNSPEC (both), the rest zero.
    // SAFETY: req is valid for its length.
    if unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) } < 0 {
        return Err(io::Error::last_os_error()).context("RTM_GETADDR");
    }
    let mut set = AddrSet::default();
    let mut buf = vec![0u8; 32768];
    let mut done = false;
    while !done {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error()).context("RTM_GETADDR answer");
        }
        if n == 0 {
            break;
        }
        for m in parse(&buf[..n as usize], &mut done) {
            set.apply(&m);
        }
    }
    Ok(set)
}

/// Address notifications of both families.
pub struct AddrWatcher {
    fd: AsyncFd<OwnedFd>,
}

impl AddrWatcher {
    pub fn open() -> anyhow::Result<AddrWatcher> {
        let fd = netlink_socket(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, true)?;
        Ok(AddrWatcher { fd: super::vpn_io::async_fd(fd)? })
    }

    /// The next datagram's messages; `Ok(None)`: notifications were lost
    /// (ENOBUFS), the caller dumps again.
    pub async fn next(&self, buf: &mut [u8]) -> io::Result<Option<Vec<AddrMsg>>> {
        loop {
            let mut g = self.fd.readable().await?;
            let r = g.try_io(|fd| {
                // SAFETY: buf is valid for buf.len() bytes.
                let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
            });
            match r {
                Ok(Ok(n)) => return Ok(Some(parse(&buf[..n], &mut false))),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(None),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::nlmsg as msg;

    fn attr(ty: u16, v: &[u8]) -> Vec<u8> {
        let mut a = ((4 + v.len()) as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(v);
        while !a.len().is_multiple_of(4) {
            a.push(0);
        }
        a
    }

    fn ifaddr(family: i32, ifindex: u32, flags: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![family as u8, 64, flags, 0];
        b.extend_from_slice(&ifindex.to_ne_bytes());
        attrs.iter().for_each(|a| b.extend_from_slice(a));
        b
    }

    fn v6(s: &str) -> Vec<u8> {
        s.parse::<Ipv6Addr>().unwrap().octets().to_vec()
    }

    #[test]
    fn parses_both_families_and_flags() {
        let mut d = msg(
            RTM_NEWADDR,
            &ifaddr(libc::AF_INET, 3, 0, &[attr(IFA_ADDRESS, &[10, 0, 0, 9]), attr(IFA_LOCAL, &[192, 0, 2, 7])]),
        );
        d.extend(msg(
            RTM_NEWADDR,
            &ifaddr(libc::AF_INET6, 4, IFA_F_TENTATIVE as u8, &[attr(IFA_ADDRESS, &v6("2001:db8::7"))]),
        ));
        // IFA_FLAGS overrides the header byte.
        d.extend(msg(
            RTM_NEWADDR,
            &ifaddr(
                libc::AF_INET6,
                4,
                IFA_F_TENTATIVE as u8,
                &[attr(IFA_ADDRESS, &v6("2001:db8::8")), attr(IFA_FLAGS, &0u32.to_ne_bytes())],
            ),
        ));
        d.extend(msg(RTM_DELADDR, &ifaddr(libc::AF_INET6, 5, 0, &[attr(IFA_ADDRESS, &v6("fe80::1"))])));
        d.extend(msg(24, &[0; 12]));
        let mut done = false;
        let m = parse(&d, &mut done);
        assert!(!done);
        assert_eq!(m.len(), 4);
        assert_eq!((m[0].added, m[0].ifindex, m[0].addr), (true, 3, "192.0.2.7".parse().unwrap()), "IFA_LOCAL wins");
        assert!(m[0].usable());
        assert_eq!(m[1].addr, "2001:db8::7".parse::<IpAddr>().unwrap());
        assert!(!m[1].usable(), "tentative (DAD running)");
        assert!(m[2].usable(), "DAD over");
        assert!(!m[3].added && !m[3].usable(), "link-local");
        let mut done = false;
        assert!(parse(&msg(NLMSG_DONE, &[0; 4]), &mut done).is_empty() && done);
        // Truncated and lying lengths never panic.
        for cut in 0..d.len() {
            let _ = parse(&d[..cut], &mut false);
        }
        let mut bad = d.clone();
        bad[NLMSG_HDRLEN + IFADDRMSG_LEN] = 0xff;
        let _ = parse(&bad, &mut false);
    }

    #[test]
    fn set_follows_adds_removals_and_dad() {
        let a = |added, addr: &str, flags| AddrMsg { added, ifindex: 2, addr: addr.parse().unwrap(), flags };
        let mut s = AddrSet::default();
        assert!(s.apply(&a(true, "10.0.0.1", 0)));
        assert!(!s.apply(&a(true, "10.0.0.1", 0)), "idempotent");
        assert!(!s.apply(&a(true, "2001:db8::1", IFA_F_TENTATIVE)), "not before DAD");
        assert!(!s.apply(&a(true, "fe80::1", 0)));
        assert!(!s.apply(&a(true, "127.0.0.1", 0)));
        assert!(!s.apply(&a(true, "2001:22:95cf:48d0:c717:8b5:da3e:f669", 0)), "a HIT (ORCHIDv2) is no locator");
        assert!(!s.apply(&a(true, "2001:10::1", 0)), "nor an ORCHIDv1");
        assert!(s.apply(&a(true, "2001:30::1", 0)));
        assert!(s.apply(&a(false, "2001:30::1", 0)));
        assert!(s.apply(&a(true, "2001:db8::1", 0)), "DAD over");
        assert_eq!(s.addresses(), vec!["10.0.0.1".parse::<IpAddr>().unwrap(), "2001:db8::1".parse().unwrap()]);
        assert!(s.apply(&a(true, "2001:db8::1", IFA_F_DEPRECATED)), "deprecated leaves");
        assert!(s.apply(&a(false, "10.0.0.1", 0)));
        assert!(s.addresses().is_empty());
    }
}
