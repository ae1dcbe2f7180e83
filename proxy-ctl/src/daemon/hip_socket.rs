//! Raw IP protocol 139 sockets (RFC 7401 §5.1: HIP packets are the payload
//! of IP protocol 139), one per address family, driven by tokio's AsyncFd.
//!
//! The HIP checksum covers a pseudo-header with both addresses, so we must
//! know the destination of what we receive and pin the source of what we
//! send: IPv4 raw sockets hand us the IP header (destination there) and
//! take IP_PKTINFO to set the source; IPv6 ones report and take
//! IPV6_PKTINFO (RFC 3542 §6).

use std::{
    io,
    mem::{size_of, zeroed},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use tokio::io::unix::AsyncFd;

use proxy_proto::hip::wire::IP_PROTOCOL;

/// One raw HIP socket.
pub struct RawHip {
    fd: AsyncFd<OwnedFd>,
    v6: bool,
}

/// A received HIP packet: addresses and where the HIP bytes are in the buffer.
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub start: usize,
    pub end: usize,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

fn set_opt(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: setsockopt with a valid fd and a pointer to a live c_int of the given size.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Control-message space for one in_pktinfo / in6_pktinfo.
const CMSG_SPACE: usize = 64;

impl RawHip {
    /// Open the socket of one family (needs CAP_NET_RAW).
    pub fn open(v6: bool) -> io::Result<RawHip> {
        let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain socket(2); the fd is owned right after.
        let raw = check(unsafe {
            libc::socket(family, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, IP_PROTOCOL.into())
        })?;
        // SAFETY: raw is a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if v6 {
            set_opt(&fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
        }
        // SAFETY: we own `fd` and never replace or close it while AsyncFd holds it.
        Ok(RawHip { fd: unsafe { AsyncFd::register(fd)? }, v6 })
    }

    /// Receive one packet into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| self.recv_now(fd.as_raw_fd(), buf)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    fn recv_now(&self, fd: libc::c_int, buf: &mut [u8]) -> io::Result<Received> {
        // SAFETY: zeroed sockaddr_storage / msghdr are valid initial values.
        let mut name: libc::sockaddr_storage = unsafe { zeroed() };
        let mut cmsg = [0u8; CMSG_SPACE];
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr().cast();
        msg.msg_controllen = cmsg.len();
        // SAFETY: msg points at live buffers of the stated sizes.
        let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if msg.msg_flags & libc::MSG_TRUNC != 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "HIP packet larger than the buffer"));
        }
        if !self.v6 {
            // IPv4 raw sockets deliver the IP header: addresses from there.
            let ihl = usize::from(buf.first().copied().unwrap_or(0) & 0x0f) * 4;
            if ihl < 20 || n < ihl {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "short IPv4 header"));
            }
            let src = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
            let dst = Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]);
            let total = usize::from(u16::from_be_bytes([buf[2], buf[3]])).clamp(ihl, n);
            return Ok(Received { src: src.into(), dst: dst.into(), start: ihl, end: total });
        }
        // SAFETY: the kernel filled an AF_INET6 sockaddr for an AF_INET6 socket.
        let sin6: libc::sockaddr_in6 = unsafe { *(&name as *const libc::sockaddr_storage).cast() };
        let src = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
        let mut dst = None;
        // SAFETY: walking the control buffer the kernel filled, with the libc CMSG macros.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_PKTINFO {
                    let info: libc::in6_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        let dst = dst.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no IPV6_PKTINFO"))?;
        Ok(Received { src: src.into(), dst: dst.into(), start: 0, end: n })
    }

    /// Send `payload` from `src` to `dst` (same family as the socket).
    pub async fn send(&self, src: IpAddr, dst: IpAddr, payload: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| send_now(fd.as_raw_fd(), src, dst, payload)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

fn send_now(fd: libc::c_int, src: IpAddr, dst: IpAddr, payload: &[u8]) -> io::Result<()> {
    let mut cmsg = [0u8; CMSG_SPACE];
    let mut iov = libc::iovec { iov_base: payload.as_ptr() as *mut _, iov_len: payload.len() };
    // SAFETY: zeroed msghdr / sockaddrs are valid initial values.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    let mut sin: libc::sockaddr_in = unsafe { zeroed() };
    let mut sin6: libc::sockaddr_in6 = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(d.octets());
            msg.msg_name = (&mut sin as *mut libc::sockaddr_in).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            // SAFETY: CMSG_SPACE/LEN are pure arithmetic.
            msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) } as usize;
            // SAFETY: the control buffer holds one in_pktinfo cmsg (64 bytes >= CMSG_SPACE).
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::IPPROTO_IP;
                (*c).cmsg_type = libc::IP_PKTINFO;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize;
                let mut info: libc::in_pktinfo = zeroed();
                info.ipi_spec_dst.s_addr = u32::from_ne_bytes(s.octets());
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), info);
            }
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = d.octets();
            msg.msg_name = (&mut sin6 as *mut libc::sockaddr_in6).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            // SAFETY: pure arithmetic.
            msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) } as usize;
            // SAFETY: the control buffer holds one in6_pktinfo cmsg.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::IPPROTO_IPV6;
                (*c).cmsg_type = libc::IPV6_PKTINFO;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as usize;
                let mut info: libc::in6_pktinfo = zeroed();
                info.ipi6_addr.s6_addr = s.octets();
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), info);
            }
        }
        _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "source and destination families differ")),
    }
    // SAFETY: msg points at live buffers of the stated sizes.
    let n = unsafe { libc::sendmsg(fd, &msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
