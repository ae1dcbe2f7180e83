//! The VPN roles' I/O besides ESP: the home agent's TUN device and raw
//! sender (userspace IP-in-IP, RFC 2003, when `encap_dev` is unset), `ip`
//! for routes, sysctls, wall-clock and random helpers. ESP itself (the node
//! and the gateway) is the ESP engine's host data path (vpn_esp.rs).

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

/// MTU of the HA's and the MN's TUN devices: the GW's (1440, vpn_gw.rs)
/// minus the HA's IP-in-IP header (20), rounded down.
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

/// Registers an owned descriptor with the tokio reactor.
pub fn async_fd(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd stays open, and refers to the same description,
    // for as long as the AsyncFd owns it.
    unsafe { AsyncFd::register(fd) }.map_err(|e| io::Error::other(e.to_string()))
}

/// Wakes a dedicated role thread blocked in [`poll_readable`] (eventfd):
/// another thread's message reaches it in one kernel wake-up, as a packet
/// on its socket does.
pub struct Wake {
    fd: OwnedFd,
}

impl Wake {
    pub fn new() -> io::Result<Wake> {
        // SAFETY: plain eventfd(2).
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        Ok(Wake { fd: unsafe { OwnedFd::from_raw_fd(raw) } })
    }

    pub fn signal(&self) {
        let one = 1u64;
        // SAFETY: writing 8 bytes to our eventfd (it cannot overflow here).
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the signal (the waiter drains its channel afterwards).
    pub fn ack(&self) {
        let mut v = 0u64;
        // SAFETY: reading 8 bytes from our eventfd into a u64.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// A channel sender whose every message also signals a [`Wake`]: how the
/// receive worker and the HIP driver reach a role thread blocked in
/// [`poll_readable`] (which takes the messages with `try_recv`).
pub struct WakingSender<T> {
    tx: tokio::sync::mpsc::UnboundedSender<T>,
    wake: std::sync::Arc<Wake>,
}

impl<T> Clone for WakingSender<T> {
    fn clone(&self) -> Self {
        WakingSender { tx: self.tx.clone(), wake: self.wake.clone() }
    }
}

impl<T> WakingSender<T> {
    pub fn send(&self, m: T) -> Result<(), tokio::sync::mpsc::error::SendError<T>> {
        // Queued first, then the wake-up: the thread drains after it acks.
        let r = self.tx.send(m);
        self.wake.signal();
        r
    }

    /// Queued without waking the thread: it takes the message at its next
    /// wake-up (a packet, another message, its timer or tick).
    pub fn send_quiet(&self, m: T) -> Result<(), tokio::sync::mpsc::error::SendError<T>> {
        self.tx.send(m)
    }
}

/// A channel to a role thread that waits on `wake`.
pub fn waking_channel<T>(wake: &std::sync::Arc<Wake>) -> (WakingSender<T>, tokio::sync::mpsc::UnboundedReceiver<T>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (WakingSender { tx, wake: wake.clone() }, rx)
}

/// Blocks until one of `fds` is readable or `timeout` passes (rounded up
/// to whole ms); which ones are. EINTR and timeouts answer none.
pub fn poll_readable<const N: usize>(fds: [std::os::fd::RawFd; N], timeout: std::time::Duration) -> [bool; N] {
    let mut p = fds.map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: p is an array of N pollfd.
    let r = unsafe { libc::poll(p.as_mut_ptr(), N as libc::nfds_t, ms) };
    if r <= 0 {
        return [false; N];
    }
    p.map(|p| p.revents & (libc::POLLIN | libc::POLLERR) != 0)
}
