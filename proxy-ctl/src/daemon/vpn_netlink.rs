//! rtnetlink address and route events (RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE)
//! for the mobile node: it notices a new care-of address the moment the
//! kernel has it, without polling.

use std::{
    io,
    net::{IpAddr, Ipv4Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use anyhow::Context;

const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetEvent {
    AddressAdded { ifindex: u32, addr: Ipv4Addr },
    AddressRemoved { ifindex: u32, addr: Ipv4Addr },
    RouteAdded,
}

pub struct Watcher {
    fd: OwnedFd,
}

impl Watcher {
    pub fn open() -> anyhow::Result<Watcher> {
        // SAFETY: socket(2) with constant arguments.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error()).context("netlink socket");
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as _;
        sa.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE;
        // SAFETY: sa is valid for its size.
        let r = unsafe {
            libc::bind(fd.as_raw_fd(), (&sa as *const libc::sockaddr_nl).cast(), size_of::<libc::sockaddr_nl>() as u32)
        };
        if r < 0 {
            return Err(io::Error::last_os_error()).context("binding netlink groups");
        }
        Ok(Watcher { fd })
    }

    /// For `poll(2)`: readable when events are queued.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// The events of the next queued batch of messages; `None` when none
    /// is queued (the socket does not block).
    pub fn try_next(&self, buf: &mut [u8]) -> io::Result<Option<Vec<NetEvent>>> {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            return Ok(Some(parse(&buf[..n as usize])));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR) => Ok(None),
            // ENOBUFS: we missed events; the caller rescans.
            Some(libc::ENOBUFS) => Ok(Some(vec![NetEvent::RouteAdded])),
            _ => Err(e),
        }
    }
}

/// Parses a netlink datagram; anything malformed or uninteresting is skipped.
pub fn parse(b: &[u8]) -> Vec<NetEvent> {
    use super::hip_addrs::Rtnl;
    let mut out = Vec::new();
    for m in super::hip_addrs::messages(b) {
        match m {
            // Care-of addresses are IPv4 (RFC 5944).
            Rtnl::Address(m) => {
                let IpAddr::V4(addr) = m.addr else { continue };
                let ifindex = m.ifindex;
                out.push(if m.added {
                    NetEvent::AddressAdded { ifindex, addr }
                } else {
                    NetEvent::AddressRemoved { ifindex, addr }
                });
            }
            Rtnl::RouteAdded => out.push(NetEvent::RouteAdded),
            Rtnl::Done => {}
        }
    }
    out
}

/// The IPv4 addresses configured now, as (interface name, ifindex, address).
pub fn current_addresses() -> Vec<(String, u32, Ipv4Addr)> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut p = head;
    while !p.is_null() {
        // SAFETY: p walks the list getifaddrs returned.
        let ifa = unsafe { &*p };
        if !ifa.ifa_addr.is_null() && i32::from(unsafe { (*ifa.ifa_addr).sa_family }) == libc::AF_INET {
            // SAFETY: AF_INET entries hold a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            let addr = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            // SAFETY: ifa_name is a NUL-terminated string.
            let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }.to_string_lossy().into_owned();
            let idx = unsafe { libc::if_nametoindex(ifa.ifa_name) };
            out.push((name, idx, addr));
        }
        p = ifa.ifa_next;
    }
    // SAFETY: head came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// The name of an interface index.
pub fn if_name(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IFNAMSIZ];
    // SAFETY: buf holds IFNAMSIZ bytes as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name.
    Some(unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::daemon::hip_addrs::nlmsg as msg;

    const RTM_NEWADDR: u16 = 20;
    const RTM_DELADDR: u16 = 21;
    const RTM_NEWROUTE: u16 = 24;

    fn ifaddr(ifindex: u32, addr: [u8; 4]) -> Vec<u8> {
        let mut b = vec![libc::AF_INET as u8, 24, 0, 0];
        b.extend_from_slice(&ifindex.to_ne_bytes());
        // IFA_ADDRESS (1) then IFA_LOCAL (2).
        for ty in [1u16, 2] {
            b.extend_from_slice(&8u16.to_ne_bytes());
            b.extend_from_slice(&ty.to_ne_bytes());
            b.extend_from_slice(&addr);
        }
        b
    }

    #[test]
    fn parses_address_events_and_skips_garbage() {
        let mut d = msg(RTM_NEWADDR, &ifaddr(3, [192, 0, 2, 7]));
        d.extend(msg(RTM_DELADDR, &ifaddr(4, [198, 51, 100, 1])));
        d.extend(msg(RTM_NEWROUTE, &[0; 12]));
        d.extend(msg(99, &[1, 2, 3]));
        assert_eq!(
            parse(&d),
            vec![
                NetEvent::AddressAdded { ifindex: 3, addr: Ipv4Addr::new(192, 0, 2, 7) },
                NetEvent::AddressRemoved { ifindex: 4, addr: Ipv4Addr::new(198, 51, 100, 1) },
                NetEvent::RouteAdded,
            ]
        );
        // Truncated and lying lengths never panic.
        for cut in 0..d.len() {
            let _ = parse(&d[..cut]);
        }
        let mut bad = d.clone();
        bad[0] = 0xff;
        let _ = parse(&bad);
        assert!(parse(&msg(RTM_NEWADDR, &[10, 0, 0, 0, 1, 0, 0, 0])).is_empty());
    }
}
