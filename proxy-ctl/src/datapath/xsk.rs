//! Typed access to the AF_XDP steering maps (proxy_common::xsk): the
//! sockets of the ESP workers by queue, and which substitutes and SPIs
//! they carry. Control plane only: the workers never touch these. The
//! proxy's `xdp_proxy` and the host's `xdp_host` (host_xdp.rs) have the
//! same three maps.

use std::{net::IpAddr, os::fd::BorrowedFd};

use aya::maps::{HashMap, MapData, MapError, XskMap};
use proxy_common::{
    Addr16, maps,
    xsk::{SteerFlags, XSK_F_ESTABLISHED},
};

use super::{Datapath, DatapathError};
use crate::net::to_addr16;

pub(crate) struct XskMaps {
    sockets: XskMap<MapData>,
    substitutes: HashMap<MapData, Addr16, SteerFlags>,
    spis: HashMap<MapData, [u8; 4], SteerFlags>,
}

impl XskMaps {
    pub(crate) fn take(ebpf: &mut aya::Ebpf) -> Result<XskMaps, DatapathError> {
        Ok(XskMaps {
            sockets: super::loader::take(ebpf, maps::XSKS)?,
            substitutes: super::loader::take(ebpf, maps::XSK_SUBSTITUTES)?,
            spis: super::loader::take(ebpf, maps::XSK_SPIS)?,
        })
    }
}

const ON: SteerFlags = SteerFlags { flags: XSK_F_ESTABLISHED, _pad: 0 };

fn ignore_missing(r: Result<(), MapError>) -> Result<(), MapError> {
    match r {
        Err(MapError::KeyNotFound) => Ok(()),
        Err(MapError::SyscallError(s)) if s.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r,
    }
}

impl XskMaps {
    /// Bind receive queue slot `slot`'s steering to the AF_XDP socket `fd`.
    pub(crate) fn bind(&mut self, slot: u32, fd: BorrowedFd<'_>) -> Result<(), MapError> {
        self.sockets.set(slot, fd, 0)
    }

    pub(crate) fn unbind(&mut self, slot: u32) -> Result<(), MapError> {
        ignore_missing(self.sockets.unset(slot))
    }

    pub(crate) fn steer_substitute(&mut self, substitute: IpAddr, on: bool) -> Result<(), MapError> {
        let k = to_addr16(substitute);
        if on { self.substitutes.insert(k, ON, 0) } else { ignore_missing(self.substitutes.remove(&k)) }
    }

    pub(crate) fn steer_spi(&mut self, spi: u32, on: bool) -> Result<(), MapError> {
        let k = spi.to_be_bytes();
        if on { self.spis.insert(k, ON, 0) } else { ignore_missing(self.spis.remove(&k)) }
    }
}

impl Datapath {
    /// Bind receive queue `queue`'s steering to the AF_XDP socket `fd`.
    pub fn xsk_bind(&mut self, queue: u32, fd: BorrowedFd<'_>) -> Result<(), MapError> {
        self.xsk.bind(queue, fd)
    }

    pub fn xsk_unbind(&mut self, queue: u32) -> Result<(), MapError> {
        self.xsk.unbind(queue)
    }

    /// Steer (or stop steering) LAN packets to `substitute` to the workers.
    pub fn xsk_steer_substitute(&mut self, substitute: IpAddr, on: bool) -> Result<(), MapError> {
        self.xsk.steer_substitute(substitute, on)
    }

    /// Steer (or stop steering) ESP with inbound SPI `spi` to the workers.
    pub fn xsk_steer_spi(&mut self, spi: u32, on: bool) -> Result<(), MapError> {
        self.xsk.steer_spi(spi, on)
    }
}
