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
const IFF_VNET_HDR: libc::c_short = 0x4000;
/// `_IOW('T', 208, unsigned int)`: which offloads we accept from the kernel.
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const TUN_F_CSUM: libc::c_ulong = 0x01;
const TUN_F_TSO4: libc::c_ulong = 0x02;
const TUN_F_TSO6: libc::c_ulong = 0x04;
const IFNAMSIZ: usize = 16;

pub struct Tun {
    fd: OwnedFd,
    pub name: String,
}

impl Tun {
    /// Create (or attach to) the TUN device `name`, non-blocking, with a
    /// virtio-net header in front of every packet and TCP segmentation and
    /// checksum offload on: the local stack hands over 64 KiB TCP
    /// super-packets and we cut them (`proxy_proto::esp::gso`), which saves
    /// it most of its per-packet work.
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
        ifr[IFNAMSIZ..IFNAMSIZ + 2].copy_from_slice(&(IFF_TUN | IFF_NO_PI | IFF_VNET_HDR).to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes a struct ifreq, which ifr is.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, ifr.as_mut_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: TUNSETOFFLOAD takes the flags as the argument itself.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tun { fd, name: name.into() })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// One packet behind its virtio-net header, or `WouldBlock`.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
    }

    /// Deliver one packet (behind a virtio-net header) to the local stack.
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
