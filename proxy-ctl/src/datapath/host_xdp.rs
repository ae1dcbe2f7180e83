//! The `host` role's XDP program (`xdp_host`, proxy-ebpf/src/bin/xdp_host.rs)
//! on one interface: it steers ESP with the host's inbound SPIs to the
//! AF_XDP sockets of the host's ESP receive workers (esp::host::xsk).
//! One object per interface, maps unpinned: dropping it detaches the
//! program and frees the maps, nothing outlives the daemon.

use std::os::fd::BorrowedFd;

use aya::{
    Ebpf,
    maps::{MapData, MapError, PerCpuArray},
    programs::XdpMode,
};
use proxy_common::{counters::Counter, maps};
use tracing::info;

use super::{DatapathError, loader, xsk::XskMaps};

static XDP_HOST_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp-host"));

/// `xdp_host` loaded and attached to `iface`.
pub struct HostXdp {
    // Maps before the object: the object owns the attachment.
    xsk: XskMaps,
    counters: PerCpuArray<MapData, u64>,
    _ebpf: Ebpf,
    pub iface: String,
}

/// What `xdp_host` counted on one interface.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HostXdpCounters {
    /// ESP redirected to a worker's socket.
    pub steered: u64,
    /// ESP with a steered SPI on a queue with no socket: passed to the kernel.
    pub missing: u64,
}

impl HostXdp {
    /// Load `xdp_host` and attach it to `iface` (native XDP where the driver
    /// has it, else generic: the kernel's choice).
    pub fn attach(iface: &str) -> Result<HostXdp, DatapathError> {
        let mut ebpf = Ebpf::load(XDP_HOST_OBJECT)?;
        let prog = loader::xdp_program(&mut ebpf, "xdp_host")?;
        prog.load().map_err(|source| DatapathError::Program { name: "xdp_host", source })?;
        prog.attach(iface, XdpMode::Default).map_err(|source| DatapathError::Attach { iface: iface.into(), source })?;
        let xsk = XskMaps::take(&mut ebpf)?;
        let counters = loader::take(&mut ebpf, maps::COUNTERS)?;
        info!(%iface, "xdp_host attached");
        Ok(HostXdp { xsk, counters, _ebpf: ebpf, iface: iface.into() })
    }

    /// Steer ESP arriving on receive queue `queue` to the socket `fd`.
    pub fn bind(&mut self, queue: u32, fd: BorrowedFd<'_>) -> Result<(), MapError> {
        self.xsk.bind(maps::XSKS_MAX / 2 + queue, fd)
    }

    /// Steer (or stop steering) ESP with inbound SPI `spi`.
    pub fn steer_spi(&mut self, spi: u32, on: bool) -> Result<(), MapError> {
        self.xsk.steer_spi(spi, on)
    }

    /// The program's counters, summed over the CPUs (control plane only).
    pub fn counters(&self) -> Result<HostXdpCounters, MapError> {
        let sum = |c: Counter| -> Result<u64, MapError> { Ok(self.counters.get(&(c as u32), 0)?.iter().sum()) };
        Ok(HostXdpCounters { steered: sum(Counter::XskSteeredEsp)?, missing: sum(Counter::XskMissing)? })
    }
}
