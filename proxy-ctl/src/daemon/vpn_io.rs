//! The VPN roles' I/O: a TUN device, raw ESP sockets (receive protocol 50,
//! send with our own outer IPv4 header so the source can be any care-of
//! address), `ip` for routes, wall-clock and random helpers.
//!
//! The kernel here has no ESP and no IP-in-IP (DESIGN.md), so ESP is done
//! in userspace on a TUN device: this is the interim tunnel-mode engine of
//! the VPN roles until the ESP engine of issue 5 carries tunnel mode.

use std::{
    io,
    net::Ipv4Addr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use tokio::io::unix::AsyncFd;
use tracing::info;

/// A TUN device (IFF_TUN | IFF_NO_PI: plain IP packets).
pub struct Tun {
    fd: AsyncFd<OwnedFd>,
    pub name: String,
}

impl Tun {
    pub fn open(name: &str) -> anyhow::Result<Tun> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            bail!("TUN name {name:?}: 1 to {} characters", libc::IFNAMSIZ - 1);
        }
        // SAFETY: plain open(2) of a NUL-terminated path.
        let raw = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error()).context("opening /dev/net/tun");
        }
        // SAFETY: raw is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        #[repr(C)]
        struct IfReq {
            name: [u8; libc::IFNAMSIZ],
            flags: libc::c_short,
            _pad: [u8; 22],
        }
        let mut req = IfReq { name: [0; libc::IFNAMSIZ], flags: (libc::IFF_TUN | libc::IFF_NO_PI) as _, _pad: [0; 22] };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes an ifreq, which IfReq lays out.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
            return Err(io::Error::last_os_error()).with_context(|| format!("TUNSETIFF {name}"));
        }
        Ok(Tun { fd: async_fd(fd)?, name: name.into() })
    }

    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut g = self.fd.readable().await?;
            // SAFETY: buf is valid for buf.len() bytes.
            match g.try_io(|fd| cvt(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })) {
                Ok(r) => return r,
                Err(_) => continue,
            }
        }
    }

    /// Writes one packet into the kernel (as if received on the device).
    pub fn send(&self, pkt: &[u8]) -> io::Result<usize> {
        // SAFETY: pkt is valid for pkt.len() bytes.
        cvt(unsafe { libc::write(self.fd.as_raw_fd(), pkt.as_ptr().cast(), pkt.len()) })
    }
}

fn cvt(r: isize) -> io::Result<usize> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r as usize) }
}

fn raw_socket(proto: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, proto) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// ESP in and out: a raw protocol-50 socket (the kernel has no ESP, so
/// nothing else consumes these packets) and an IPPROTO_RAW socket that
/// sends our own outer header.
pub struct EspSocket {
    rx: AsyncFd<OwnedFd>,
    tx: RawSender,
}

/// Sends complete IPv4 packets we built (IPPROTO_RAW implies IP_HDRINCL):
/// the kernel routes them by destination and keeps our source address.
pub struct RawSender {
    fd: OwnedFd,
}

impl RawSender {
    pub fn open() -> anyhow::Result<RawSender> {
        Ok(RawSender { fd: raw_socket(libc::IPPROTO_RAW).context("raw send socket (needs CAP_NET_RAW)")? })
    }

    /// Sends a complete IPv4 packet (header built by us) to `dst`.
    pub fn send(&self, pkt: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as _,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(dst.octets()) },
            sin_zero: [0; 8],
        };
        // SAFETY: pkt and sa are valid for the lengths given.
        cvt(unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                pkt.as_ptr().cast(),
                pkt.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as u32,
            )
        })
    }
}

pub const IPPROTO_ESP: u8 = 50;

impl EspSocket {
    pub fn open() -> anyhow::Result<EspSocket> {
        let rx = raw_socket(i32::from(IPPROTO_ESP)).context("raw ESP socket (needs CAP_NET_RAW)")?;
        Ok(EspSocket { rx: async_fd(rx)?, tx: RawSender::open()? })
    }

    /// One received IPv4 packet, outer header included.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut g = self.rx.readable().await?;
            // SAFETY: buf is valid for buf.len() bytes.
            match g.try_io(|fd| cvt(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })) {
                Ok(r) => return r,
                Err(_) => continue,
            }
        }
    }

    /// Sends a complete IPv4 packet (header built by us) to `dst`.
    pub fn send(&self, pkt: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        self.tx.send(pkt, dst)
    }
}

/// Runs `ip ARGS`; the error carries ip's message.
pub async fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("ip").args(args).output().await.context("running ip")?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Sets a sysctl under /proc/sys/net/ipv4 and logs it.
pub fn sysctl_v4(path: &str, value: &str) -> anyhow::Result<()> {
    let p = format!("/proc/sys/net/ipv4/{path}");
    std::fs::write(&p, value).with_context(|| format!("writing {p}"))?;
    info!(sysctl = %p, value, "set");
    Ok(())
}

/// MTU of the GW's TUN device: what ESP-sealed still fits a 1500-byte path
/// (outer IPv4 20, ESP header + GCM IV 16, trailer <= 5, ICV 16: 1443),
/// rounded down. Larger packets get ICMP "fragmentation needed" from the
/// kernel, so path-MTU discovery works across the tunnel.
pub const GW_TUN_MTU: u32 = 1440;
/// MTU of the HA's and the MN's TUN devices: the GW's minus the HA's
/// IP-in-IP header (20), rounded down.
pub const TUN_MTU: u32 = 1400;

/// Brings a TUN device up with an optional address (no routes).
pub async fn tun_up(name: &str, addr: Option<Ipv4Addr>, mtu: u32) -> anyhow::Result<()> {
    ip(&["link", "set", "dev", name, "mtu", &mtu.to_string()]).await?;
    // Mobile IPv4 only: no IPv6 link-local chatter into the tunnel.
    let v6 = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    if std::path::Path::new(&v6).exists() {
        std::fs::write(&v6, "1").with_context(|| format!("writing {v6}"))?;
    }
    ip(&["link", "set", "dev", name, "up"]).await?;
    if let Some(a) = addr {
        ip(&["addr", "replace", &format!("{a}/32"), "dev", name]).await?;
    }
    // Packets the daemon writes into the TUN device carry sources routed
    // elsewhere (care-of addresses, correspondents): loose mode only.
    sysctl_v4(&format!("conf/{name}/rp_filter"), "0")?;
    Ok(())
}

/// The wall clock in NTP format (RFC 5905), for Identifications (§5.7).
pub fn now_ntp() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() + 2_208_988_800;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// Fills `buf` from the system CSPRNG.
pub fn fill_random(buf: &mut [u8]) {
    // A failing system RNG leaves nothing safe to do.
    aws_lc_rs::rand::fill(buf).expect("system random generator");
}

/// A random SPI outside the reserved 0-255 (RFC 4303 §2.1).
pub fn random_spi() -> u32 {
    let mut b = [0u8; 4];
    loop {
        fill_random(&mut b);
        let spi = u32::from_be_bytes(b);
        if spi > 255 {
            return spi;
        }
    }
}

/// Wraps `esp` (ESP header onwards) in an outer IPv4 header, protocol 50.
pub fn outer_ipv4(src: Ipv4Addr, dst: Ipv4Addr, esp: &[u8], out: &mut Vec<u8>) {
    use proxy_proto::vpn::ipv4::{Ipv4Repr, Packet};
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IPPROTO_ESP,
        tos: 0,
        ident: 0,
        dont_fragment: false,
        ttl: 64,
        payload_len: esp.len(),
    };
    out.clear();
    out.resize(repr.buffer_len(), 0);
    let mut p = Packet::new_unchecked(&mut out[..]);
    // Lengths fit: esp comes from a bounded buffer.
    let _ = repr.emit(&mut p);
    let hl = 20;
    out[hl..].copy_from_slice(esp);
}

/// Registers an owned descriptor with the tokio reactor.
pub fn async_fd(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd stays open, and refers to the same description,
    // for as long as the AsyncFd owns it.
    unsafe { AsyncFd::register(fd) }.map_err(|e| io::Error::other(e.to_string()))
}
