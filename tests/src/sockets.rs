//! Socket helpers for tests: echo servers that record who they saw, and a
//! raw ICMP echo client with a chosen identifier.

use std::{
    io::{Read, Write},
    mem::size_of,
    net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{Arc, Mutex},
    time::Duration,
};

/// Peers an echo server saw.
pub type Seen = Arc<Mutex<Vec<SocketAddr>>>;

/// A TCP echo server: echoes each connection until EOF, `conns` times.
pub fn tcp_echo(listener: TcpListener, conns: usize, seen: Seen) {
    let mut handles = Vec::new();
    for _ in 0..conns {
        let (mut s, peer) = listener.accept().expect("accept");
        seen.lock().unwrap().push(peer);
        handles.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                let n = s.read(&mut buf).expect("server read");
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).expect("server write");
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
}

/// A UDP echo server answering `count` datagrams.
pub fn udp_echo(sock: UdpSocket, count: usize, seen: Seen) {
    let mut buf = [0u8; 65536];
    for _ in 0..count {
        let (n, peer) = sock.recv_from(&mut buf).expect("udp recv");
        seen.lock().unwrap().push(peer);
        sock.send_to(&buf[..n], peer).expect("udp send");
    }
}

/// Deterministic payload of `len` bytes for client `i`.
pub fn payload(i: u8, len: usize) -> Vec<u8> {
    (0..len).map(|k| (k as u32).wrapping_mul(31).wrapping_add(u32::from(i) * 7) as u8).collect()
}

/// A TCP socket bound to a fixed source port (what two legacy hosts with
/// the same source port look like), not yet connected.
pub fn tcp_connect_from(src_port: u16, dst: SocketAddr) -> std::io::Result<TcpStream> {
    let domain = if dst.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket/bind/connect on an fd we own.
    unsafe {
        let fd = libc::socket(domain, libc::SOCK_STREAM, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let (sa, len) = sockaddr(SocketAddr::new(unspecified(dst.ip()), src_port));
        if libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let (sa, len) = sockaddr(dst);
        if libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(TcpStream::from(owned))
    }
}

fn unspecified(a: IpAddr) -> IpAddr {
    if a.is_ipv4() { IpAddr::from([0u8; 4]) } else { IpAddr::from([0u8; 16]) }
}

fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: zeroed sockaddr_storage is valid; we fill the family's form.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) },
                sin_zero: [0; 8],
            };
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
            (ss, size_of::<libc::sockaddr_in>() as u32)
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as u16,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: v6.ip().octets() },
                sin6_scope_id: 0,
            };
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (ss, size_of::<libc::sockaddr_in6>() as u32)
        }
    }
}

/// A raw IP socket of protocol `proto` (in the calling thread's
/// namespace) whose receives give up after 1 s.
pub fn raw_socket(domain: i32, proto: i32) -> OwnedFd {
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd = unsafe { libc::socket(domain, libc::SOCK_RAW, proto) };
    assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval { tv_sec: 1, tv_usec: 0 };
    // SAFETY: tv is a valid timeval for its size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const _,
            size_of::<libc::timeval>() as u32,
        )
    };
    sock
}

/// Send ICMP echo requests with identifier `id` to `dst` and wait for a
/// reply carrying the same identifier and payload. Returns how many of
/// `count` requests were answered.
pub fn icmp_echo(dst: IpAddr, id: u16, count: u16) -> u16 {
    let (domain, proto, req_type, rep_type) = if dst.is_ipv4() {
        (libc::AF_INET, libc::IPPROTO_ICMP, 8u8, 0u8)
    } else {
        (libc::AF_INET6, libc::IPPROTO_ICMPV6, 128u8, 129u8)
    };
    // The kernel computes ICMPv6 checksums.
    let sock = raw_socket(domain, proto);
    let (sa, len) = sockaddr(SocketAddr::new(dst, 0));
    let mut answered = 0;
    for seq in 1..=count {
        let mut msg = vec![req_type, 0, 0, 0];
        msg.extend_from_slice(&id.to_be_bytes());
        msg.extend_from_slice(&seq.to_be_bytes());
        msg.extend_from_slice(b"hip-proxy-echo-test");
        if dst.is_ipv4() {
            let c = checksum(&msg);
            msg[2..4].copy_from_slice(&c.to_be_bytes());
        }
        let sent = unsafe {
            libc::sendto(sock.as_raw_fd(), msg.as_ptr() as *const _, msg.len(), 0, &sa as *const _ as *const _, len)
        };
        assert_eq!(sent as usize, msg.len(), "sendto: {}", std::io::Error::last_os_error());
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            let mut buf = [0u8; 1500];
            let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr() as *mut _, buf.len(), 0) };
            if n <= 0 {
                continue;
            }
            let pkt = &buf[..n as usize];
            // Raw IPv4 sockets deliver the IP header too.
            let icmp = if dst.is_ipv4() { &pkt[((pkt[0] & 0x0f) as usize * 4)..] } else { pkt };
            if icmp.len() >= 8
                && icmp[0] == rep_type
                && icmp[4..6] == id.to_be_bytes()
                && icmp[6..8] == seq.to_be_bytes()
            {
                assert_eq!(&icmp[8..], b"hip-proxy-echo-test", "echo payload changed");
                answered += 1;
                break;
            }
        }
    }
    answered
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}
