//! A TUN device (layer 3, no packet information header): local
//! applications send to HITs, LSIs or tunnelled prefixes through it.
//!
//! Addresses and routes are set with `ip` from iproute2 at start-up (the
//! daemon runs as root and already needs iproute2 for the test topologies);
//! that is once per start, never per packet.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    process::Command,
};

/// `_IOW('T', 202, int)` from linux/if_tun.h.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFNAMSIZ: usize = 16;

pub struct Tun {
    fd: OwnedFd,
    pub name: String,
}

impl Tun {
    /// Create (or attach to) the TUN device `name`, non-blocking.
    pub fn create(name: &str) -> io::Result<Tun> {
        if name.is_empty() || name.len() >= IFNAMSIZ || name.contains(['/', ' ']) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name {name:?}")));
        }
        // SAFETY: open(2) with a NUL-terminated path.
        let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just opened and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // struct ifreq: ifr_name[16] then the ifr_flags short (40 bytes in all).
        let mut ifr = [0u8; 40];
        ifr[..name.len()].copy_from_slice(name.as_bytes());
        ifr[IFNAMSIZ..IFNAMSIZ + 2].copy_from_slice(&(IFF_TUN | IFF_NO_PI).to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes a struct ifreq, which ifr is.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, ifr.as_mut_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tun { fd, name: name.into() })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// One packet, or `WouldBlock`.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
    }

    /// Deliver one packet to the local stack.
    pub fn write(&self, pkt: &[u8]) -> io::Result<usize> {
        // SAFETY: pkt is valid for reads of pkt.len() bytes.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), pkt.as_ptr().cast(), pkt.len()) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
    }

    /// Bring the device up with `mtu`, its addresses ("2001:20::1/28") and
    /// routes ("10.8.0.0/16").
    pub fn configure(&self, mtu: u32, addrs: &[String], routes: &[String]) -> anyhow::Result<()> {
        ip(&["link", "set", "dev", &self.name, "mtu", &mtu.to_string(), "up"])?;
        for a in addrs {
            let mut args = vec!["addr", "replace", a.as_str(), "dev", &self.name];
            if a.contains(':') {
                // No duplicate address detection: the HIT is ours by
                // construction (a hash of our key), and DAD would hold the
                // address tentative for a second.
                args.push("nodad");
            }
            ip(&args)?;
        }
        for r in routes {
            ip(&["route", "replace", r, "dev", &self.name])?;
        }
        Ok(())
    }
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if !out.status.success() {
        anyhow::bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}
