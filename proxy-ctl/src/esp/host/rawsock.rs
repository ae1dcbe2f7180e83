//! Raw IP protocol 50 sockets (this kernel has no ESP of its own, so raw
//! sockets see every ESP packet addressed to us) and `recvmmsg`/`sendmmsg`
//! batches over preallocated frames: one syscall per batch, no allocation
//! per packet.
//!
//! IPv4 raw sockets hand the IP header in front of the ESP packet; IPv6
//! ones do not (RFC 3542 §3), the source comes in the message name.

use std::{
    io,
    mem::{size_of, zeroed},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
};

pub const IPPROTO_ESP: libc::c_int = 50;
/// Frames per batch.
pub const BATCH: usize = 64;
/// Room in front of each received packet: a rebuilt BEET inner header is
/// written there, and a sealed ESP header in front of a local packet.
pub const HEADROOM: usize = 128;
/// Bytes per frame.
pub const FRAME: usize = 2048;

pub struct RawEsp {
    fd: OwnedFd,
    pub v6: bool,
}

impl RawEsp {
    pub fn open(v6: bool) -> io::Result<RawEsp> {
        let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain socket(2).
        let fd =
            unsafe { libc::socket(family, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, IPPROTO_ESP) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just created and is ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Bigger buffers absorb bursts between two batches.
        let size: libc::c_int = 4 << 20;
        for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
            // SAFETY: setsockopt with a c_int value.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&size as *const libc::c_int).cast(),
                    size_of::<libc::c_int>() as u32,
                )
            };
        }
        Ok(RawEsp { fd, v6 })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// `BATCH` frames with their message headers. The pointers inside the
/// headers are refreshed before each call, so the batch may move.
pub struct Batch {
    frames: Vec<u8>,
    /// Packet start and length inside each frame.
    pub start: [usize; BATCH],
    pub len: [usize; BATCH],
    addrs: Vec<libc::sockaddr_storage>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    /// One control message per frame on send: the outer source address.
    cmsgs: Vec<CmsgBuf>,
}

/// Room for one IP_PKTINFO or IPV6_PKTINFO control message, aligned as
/// the kernel wants control buffers.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

impl Default for Batch {
    fn default() -> Self {
        Batch {
            frames: vec![0; FRAME * BATCH],
            start: [HEADROOM; BATCH],
            len: [0; BATCH],
            // SAFETY: all-zero sockaddr_storage, iovec and mmsghdr are valid values.
            addrs: vec![unsafe { zeroed() }; BATCH],
            iov: vec![unsafe { zeroed() }; BATCH],
            hdrs: vec![unsafe { zeroed() }; BATCH],
            cmsgs: vec![CmsgBuf([0; 64]); BATCH],
        }
    }
}

impl Batch {
    /// The whole frame `i` (headroom included).
    pub fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.frames[i * FRAME..(i + 1) * FRAME]
    }

    pub fn frame(&self, i: usize) -> &[u8] {
        &self.frames[i * FRAME..(i + 1) * FRAME]
    }

    /// Receive up to `BATCH` packets, each at `HEADROOM` in its frame.
    pub fn recv(&mut self, sock: &RawEsp) -> io::Result<usize> {
        for i in 0..BATCH {
            self.start[i] = HEADROOM;
            let f = self.frames[i * FRAME + HEADROOM..].as_mut_ptr();
            self.iov[i] = libc::iovec { iov_base: f.cast(), iov_len: FRAME - HEADROOM };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
            h.msg_iov = &mut self.iov[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
        }
        // SAFETY: every header points into buffers owned by self that live
        // across the call.
        let n = unsafe {
            libc::recvmmsg(
                sock.raw_fd(),
                self.hdrs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            self.len[i] = self.hdrs[i].msg_len as usize;
            if self.hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                self.len[i] = 0;
            }
        }
        Ok(n)
    }

    /// The source address of received packet `i` (IPv6 sockets; IPv4
    /// packets carry theirs in the header).
    pub fn source(&self, i: usize) -> Option<IpAddr> {
        sockaddr_ip(&self.addrs[i])
    }

    /// Send the packets listed in `which` (frame index, outer source,
    /// outer destination). The source is set per packet (IP_PKTINFO /
    /// IPV6_PKTINFO): it is the SA's local address, which the peer checks,
    /// not whatever the kernel would pick on a host with several.
    /// Returns how many the kernel refused, and the last error.
    pub fn send(&mut self, sock: &RawEsp, which: &[(usize, IpAddr, IpAddr)]) -> (usize, Option<io::Error>) {
        let n = which.len().min(BATCH);
        for (k, &(i, src, dst)) in which[..n].iter().enumerate() {
            let namelen = set_sockaddr(&mut self.addrs[k], dst);
            let controllen = set_pktinfo(&mut self.cmsgs[k], src);
            let f = self.frames[i * FRAME + self.start[i]..].as_mut_ptr();
            self.iov[k] = libc::iovec { iov_base: f.cast(), iov_len: self.len[i] };
            let h = &mut self.hdrs[k].msg_hdr;
            h.msg_name = (&mut self.addrs[k] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = namelen;
            h.msg_iov = &mut self.iov[k];
            h.msg_iovlen = 1;
            h.msg_control = self.cmsgs[k].0.as_mut_ptr().cast();
            h.msg_controllen = controllen;
            h.msg_flags = 0;
        }
        let (mut sent, mut failed, mut last) = (0, 0, None);
        while sent < n {
            // SAFETY: headers [sent, n) point into buffers owned by self.
            let r = unsafe {
                libc::sendmmsg(sock.raw_fd(), self.hdrs[sent..].as_mut_ptr(), (n - sent) as u32, libc::MSG_DONTWAIT)
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // sendmmsg fails only on the first message of the call: one
                // bad message (no route, full buffer) must not take the
                // rest of the batch with it. Skip it and carry on.
                sent += 1;
                failed += 1;
                last = Some(e);
                continue;
            }
            sent += r as usize;
        }
        (failed, last)
    }
}

/// Send one ESP packet from `src` to `dst` (the control plane's odd
/// packet: a Registration Request, a return-routability nonce).
pub fn send_one(sock: &RawEsp, pkt: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
    // SAFETY: all-zero sockaddr_storage and msghdr are valid values.
    let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
    let namelen = set_sockaddr(&mut addr, dst);
    let mut cmsg = CmsgBuf([0; 64]);
    let controllen = set_pktinfo(&mut cmsg, src);
    let mut iov = libc::iovec { iov_base: pkt.as_ptr() as *mut libc::c_void, iov_len: pkt.len() };
    // SAFETY: as above.
    let mut h: libc::msghdr = unsafe { zeroed() };
    h.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    h.msg_namelen = namelen;
    h.msg_iov = &mut iov;
    h.msg_iovlen = 1;
    h.msg_control = cmsg.0.as_mut_ptr().cast();
    h.msg_controllen = controllen;
    // SAFETY: h points at buffers that live across the call; the kernel
    // only reads the packet.
    if unsafe { libc::sendmsg(sock.raw_fd(), &h, libc::MSG_DONTWAIT) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Write the control message that sets the source address; returns its
/// length.
fn set_pktinfo(buf: &mut CmsgBuf, src: IpAddr) -> usize {
    // struct in_pktinfo is (ifindex, spec_dst = the source, addr);
    // struct in6_pktinfo is (addr = the source, ifindex).
    let mut d = [0u8; 20];
    let (level, ty, len) = match src {
        IpAddr::V4(v4) => {
            d[4..8].copy_from_slice(&v4.octets());
            (libc::IPPROTO_IP, libc::IP_PKTINFO, size_of::<libc::in_pktinfo>())
        }
        IpAddr::V6(v6) => {
            d[..16].copy_from_slice(&v6.octets());
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, size_of::<libc::in6_pktinfo>())
        }
    };
    let data = &d[..len];
    // SAFETY: CMSG_* compute lengths only; the buffer holds CMSG_SPACE(data).
    unsafe {
        let space = libc::CMSG_SPACE(data.len() as u32) as usize;
        let mut h: libc::msghdr = zeroed();
        h.msg_control = buf.0.as_mut_ptr().cast();
        h.msg_controllen = space;
        let c = libc::CMSG_FIRSTHDR(&h);
        (*c).cmsg_level = level;
        (*c).cmsg_type = ty;
        (*c).cmsg_len = libc::CMSG_LEN(data.len() as u32) as usize;
        std::ptr::copy_nonoverlapping(data.as_ptr(), libc::CMSG_DATA(c), data.len());
        space
    }
}

fn sockaddr_ip(s: &libc::sockaddr_storage) -> Option<IpAddr> {
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const _ as *const libc::sockaddr_in) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const _ as *const libc::sockaddr_in6) };
            Some(IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

fn set_sockaddr(s: &mut libc::sockaddr_storage, ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let a: &mut libc::sockaddr_in = unsafe { &mut *(s as *mut _ as *mut libc::sockaddr_in) };
            a.sin_family = libc::AF_INET as libc::sa_family_t;
            a.sin_port = 0;
            a.sin_addr.s_addr = u32::from(v4).to_be();
            size_of::<libc::sockaddr_in>() as u32
        }
        IpAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
            let a: &mut libc::sockaddr_in6 = unsafe { &mut *(s as *mut _ as *mut libc::sockaddr_in6) };
            a.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            a.sin6_port = 0;
            a.sin6_flowinfo = 0;
            a.sin6_addr.s6_addr = v6.octets();
            a.sin6_scope_id = 0;
            size_of::<libc::sockaddr_in6>() as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trip() {
        // SAFETY: zeroed sockaddr_storage is valid.
        let mut s: libc::sockaddr_storage = unsafe { zeroed() };
        for ip in ["192.0.2.7", "2001:db8::7"] {
            let ip: IpAddr = ip.parse().unwrap();
            set_sockaddr(&mut s, ip);
            assert_eq!(sockaddr_ip(&s), Some(ip));
        }
    }
}
