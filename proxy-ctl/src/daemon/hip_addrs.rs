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
    net::IpAddr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use anyhow::Context;
use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use tokio::io::unix::AsyncFd;

const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;

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
        let unusable = AddressFlags::Tentative | AddressFlags::Dadfailed | AddressFlags::Deprecated;
        usable_address(self.addr) && self.flags & unusable.bits() == 0
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

/// What one rtnetlink message of a datagram says, as far as the address
/// watchers care (the host role's locators, the VPN's care-of addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rtnl {
    /// RTM_NEWADDR / RTM_DELADDR of an IPv4 or IPv6 address.
    Address(AddrMsg),
    /// RTM_NEWROUTE.
    RouteAdded,
    /// NLMSG_DONE / NLMSG_ERROR: the end of a dump.
    Done,
}

/// The messages of a netlink datagram, in order, parsed by
/// netlink-packet-route. One that does not parse is skipped; the walk ends
/// at the first length that does not fit (a truncated or lying datagram
/// yields what came before it).
pub(crate) fn messages(b: &[u8]) -> Vec<Rtnl> {
    let mut out = Vec::new();
    let mut off = 0;
    while let Some(rest) = b.get(off..).filter(|r| !r.is_empty()) {
        let Ok(buf) = NetlinkBuffer::new_checked(rest) else { break };
        let len = buf.length() as usize;
        let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len]) else {
            off += (len + 3) & !3;
            continue;
        };
        match msg.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(m)) => {
                out.extend(address(&m, true).map(Rtnl::Address))
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(m)) => {
                out.extend(address(&m, false).map(Rtnl::Address))
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(_)) => out.push(Rtnl::RouteAdded),
            NetlinkPayload::Done(_) | NetlinkPayload::Error(_) => out.push(Rtnl::Done),
            _ => {}
        }
        off += (len + 3) & !3;
    }
    out
}

/// Parse a netlink datagram of address messages; `done` is set by
/// NLMSG_DONE / NLMSG_ERROR (end of a dump).
pub fn parse(b: &[u8], done: &mut bool) -> Vec<AddrMsg> {
    let mut out = Vec::new();
    for m in messages(b) {
        match m {
            Rtnl::Address(a) => out.push(a),
            Rtnl::Done => *done = true,
            Rtnl::RouteAdded => {}
        }
    }
    out
}

/// A netlink message of type `ty` around `body`, padded to 4 octets
/// (tests of this module and of the VPN's watcher feed raw bytes, as the
/// kernel sends them).
#[cfg(test)]
pub(crate) fn nlmsg(ty: u16, body: &[u8]) -> Vec<u8> {
    let len = (16 + body.len()) as u32;
    let mut m = len.to_ne_bytes().to_vec();
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&[0; 10]);
    m.extend_from_slice(body);
    while !m.len().is_multiple_of(4) {
        m.push(0);
    }
    m
}

/// One RTM_NEWADDR/RTM_DELADDR, IPv4 or IPv6.
fn address(m: &AddressMessage, added: bool) -> Option<AddrMsg> {
    if !matches!(m.header.family, AddressFamily::Inet | AddressFamily::Inet6) {
        return None;
    }
    // IFA_FLAGS, when present, has the bits that do not fit the header's byte.
    let mut flags = u32::from(m.header.flags.bits());
    let (mut local, mut address) = (None, None);
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Flags(f) => flags = f.bits(),
            _ => {}
        }
    }
    // IFA_LOCAL is our address; IFA_ADDRESS is the peer's on a
    // point-to-point link, ours otherwise (IPv6 usually sends only it).
    let addr = local.or(address)?;
    if addr.is_ipv4() != (m.header.family == AddressFamily::Inet) {
        return None;
    }
    Some(AddrMsg { added, ifindex: m.header.index, addr, flags })
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
    // RTM_GETADDR, family AF_UNSPEC: both.
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = 1;
    let payload = NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetAddress(AddressMessage::default()));
    let mut msg = NetlinkMessage::new(header, payload);
    msg.finalize();
    let mut req = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut req);
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
    use std::net::Ipv6Addr;

    const NLMSG_DONE: u16 = 3;
    const RTM_NEWADDR: u16 = 20;
    const RTM_DELADDR: u16 = 21;
    const IFA_ADDRESS: u16 = 1;
    const IFA_LOCAL: u16 = 2;
    const IFA_FLAGS: u16 = 8;
    const IFA_F_DEPRECATED: u32 = 0x20;
    const IFA_F_TENTATIVE: u32 = 0x40;

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
        bad[16 + 8] = 0xff;
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
