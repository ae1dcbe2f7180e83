//! One AF_XDP socket on one (interface, queue) with its own UMEM, through
//! xdpilone (no libbpf/libxdp).
//!
//! UMEM layout: `FRAMES` frames of `FRAME_SIZE` bytes. The first half
//! lives in the fill ring / RX ring (receive buffers, recycled to the fill
//! ring after each batch); the second half is the transmit pool, handed
//! back by the completion ring. A frame is owned by exactly one side at a
//! time, so the worker may write any frame it holds without a lock.

use std::{ffi::CString, io, num::NonZeroU32, ptr::NonNull};

use xdpilone::{DeviceQueue, IfInfo, RingRx, RingTx, Socket, SocketConfig, Umem, UmemConfig, xdp::XdpDesc};

pub const FRAME_SIZE: u32 = 4096;
pub const FRAMES: u32 = 4096;
/// Fill, completion, RX and TX ring sizes (powers of two).
const RING: u32 = 2048;
/// Frames copy mode sends per sendto() (the kernel's TX batch,
/// TX_BATCH_SIZE in net/xdp/xsk.c).
const KERNEL_TX_BATCH: u32 = 32;

/// How the socket binds (`[esp] xdp_bind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Zero-copy where the driver supports it, else copy.
    Auto,
    Copy,
    ZeroCopy,
}

#[derive(Debug, thiserror::Error)]
pub enum XskError {
    #[error("interface {iface}: {source}")]
    Interface { iface: String, source: io::Error },
    #[error("{what} on {iface} queue {queue}: {source}")]
    Setup { what: &'static str, iface: String, queue: u32, source: io::Error },
}

fn errno(e: xdpilone::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.get_raw())
}

/// The anonymous mapping behind a UMEM, unmapped on drop.
struct Area {
    ptr: NonNull<[u8]>,
}

// SAFETY: the area is plain memory; which thread touches which frame is
// decided by frame ownership (module doc).
unsafe impl Send for Area {}

impl Area {
    fn new(len: usize) -> io::Result<Area> {
        // SAFETY: a fresh anonymous mapping, checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let slice = std::ptr::slice_from_raw_parts_mut(p as *mut u8, len);
        Ok(Area { ptr: NonNull::new(slice).ok_or_else(|| io::Error::other("mmap returned NULL"))? })
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(), unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.ptr.len()) };
    }
}

pub struct Xsk {
    // Field order is drop order: rings before the UMEM before the memory.
    rx: RingRx,
    tx: RingTx,
    fq: DeviceQueue,
    _user: xdpilone::User,
    _umem: Umem,
    area: Area,
    /// Free transmit frames (UMEM offsets of frame starts).
    pub free_tx: Vec<u64>,
    /// Receive frames to give back to the fill ring.
    pub refill: Vec<u64>,
    pub zero_copy: bool,
    fd: i32,
}

// SAFETY: xdpilone's rings are single-producer/single-consumer handles;
// an Xsk is moved into its worker thread once and used only there.
unsafe impl Send for Xsk {}

impl Xsk {
    pub fn open(iface: &str, queue: u32, mode: BindMode) -> Result<Xsk, XskError> {
        let setup = |what: &'static str| {
            move |source: io::Error| XskError::Setup { what, iface: iface.to_string(), queue, source }
        };
        let name = CString::new(iface)
            .map_err(|_| XskError::Interface { iface: iface.into(), source: io::ErrorKind::InvalidInput.into() })?;
        let mut info = IfInfo::invalid();
        info.from_name(&name).map_err(|e| XskError::Interface { iface: iface.into(), source: errno(e) })?;
        info.set_queue(queue);
        let area = Area::new((FRAMES * FRAME_SIZE) as usize).map_err(setup("UMEM mmap"))?;
        let cfg = UmemConfig { fill_size: RING, complete_size: RING, frame_size: FRAME_SIZE, headroom: 0, flags: 0 };
        // SAFETY: the area is page aligned (mmap) and lives as long as the UMEM (field order).
        let umem = unsafe { Umem::new(cfg, area.ptr) }.map_err(|e| setup("UMEM registration")(errno(e)))?;
        let sock = Socket::with_shared(&info, &umem).map_err(|e| setup("socket")(errno(e)))?;
        let mut fq = umem.fq_cq(&sock).map_err(|e| setup("fill/completion rings")(errno(e)))?;
        let flags = SocketConfig::XDP_BIND_NEED_WAKEUP
            | match mode {
                BindMode::Auto => 0,
                BindMode::Copy => SocketConfig::XDP_BIND_COPY,
                BindMode::ZeroCopy => SocketConfig::XDP_BIND_ZEROCOPY,
            };
        let rc = SocketConfig { rx_size: NonZeroU32::new(RING), tx_size: NonZeroU32::new(RING), bind_flags: flags };
        let user = umem.rx_tx(&sock, &rc).map_err(|e| setup("RX/TX rings")(errno(e)))?;
        let rx = user.map_rx().map_err(|e| setup("RX ring mmap")(errno(e)))?;
        let tx = user.map_tx().map_err(|e| setup("TX ring mmap")(errno(e)))?;
        let half = u64::from(FRAMES / 2);
        {
            let mut w = fq.fill(FRAMES / 2);
            w.insert((0..half).map(|i| i * u64::from(FRAME_SIZE)));
            w.commit();
        }
        umem.bind(&user).map_err(|e| setup("bind")(errno(e)))?;
        let fd = user.as_raw_fd();
        let zero_copy = bound_zero_copy(fd);
        Ok(Xsk {
            rx,
            tx,
            fq,
            _user: user,
            _umem: umem,
            area,
            free_tx: (half..u64::from(FRAMES)).map(|i| i * u64::from(FRAME_SIZE)).collect(),
            refill: Vec::with_capacity(RING as usize),
            zero_copy,
            fd,
        })
    }

    /// The socket for the XSKMAP and poll(2).
    pub fn raw_fd(&self) -> i32 {
        self.fd
    }

    /// The whole frame holding UMEM offset `addr`.
    ///
    /// The caller must own that frame (received, or taken from `free_tx`).
    pub fn frame_mut(&mut self, addr: u64) -> &mut [u8] {
        let base = (addr - addr % u64::from(FRAME_SIZE)) as usize;
        // SAFETY: base is a frame start inside the area (offsets come from
        // this UMEM's rings, bounded by FRAMES * FRAME_SIZE), and the frame
        // is owned by the caller, not the kernel.
        unsafe {
            let p = (self.area.ptr.as_ptr() as *mut u8).add(base.min((FRAMES - 1) as usize * FRAME_SIZE as usize));
            std::slice::from_raw_parts_mut(p, FRAME_SIZE as usize)
        }
    }

    /// Up to `out.len()` received descriptors.
    pub fn receive(&mut self, out: &mut [XdpDesc]) -> usize {
        let mut n = 0;
        // Like reservations (transmit()), a peek reads the kernel's
        // producer index afresh only when the cached copy shows nothing:
        // peek again so a batch takes all that is there.
        while n < out.len() {
            let mut r = self.rx.receive((out.len() - n) as u32);
            let before = n;
            while let Some(d) = r.read() {
                out[n] = d;
                n += 1;
            }
            r.release();
            if n == before {
                break;
            }
        }
        n
    }

    /// Queue `descs` for transmission; returns how many the ring took (the
    /// rest stay the caller's).
    pub fn transmit(&mut self, descs: &[XdpDesc]) -> usize {
        let mut sent = 0;
        // xdpilone reserves ring slots against its cached copy of the
        // kernel's consumer index and re-reads the index only when that
        // copy shows no room at all: a reservation can come back short
        // while the kernel has long freed the slots. Reserve again until
        // the ring, read afresh, is really full.
        while sent < descs.len() {
            let mut w = self.tx.transmit((descs.len() - sent) as u32);
            let n = w.insert(descs[sent..].iter().copied()) as usize;
            w.commit();
            drop(w);
            if n == 0 {
                break;
            }
            sent += n;
        }
        self.kick_pending();
        sent
    }

    /// Frames the kernel has sent go back to the transmit pool.
    pub fn reap_completions(&mut self) {
        // Twice at most: the second peek sees what the cached index hid.
        for _ in 0..2 {
            let mut c = self.fq.complete(RING);
            let before = self.free_tx.len();
            while let Some(addr) = c.read() {
                self.free_tx.push(addr - addr % u64::from(FRAME_SIZE));
            }
            c.release();
            if self.free_tx.len() == before {
                break;
            }
        }
    }

    /// Give the received frames back to the fill ring.
    pub fn refill(&mut self) {
        if self.refill.is_empty() {
            return;
        }
        // Short reservations as in transmit(): a frame left out would be
        // a receive buffer the kernel lacks until the next batch.
        let mut given = 0;
        while given < self.refill.len() {
            let mut w = self.fq.fill((self.refill.len() - given) as u32);
            let n = w.insert(self.refill[given..].iter().copied()) as usize;
            w.commit();
            drop(w);
            if n == 0 {
                break;
            }
            given += n;
        }
        self.refill.drain(..given);
        if self.fq.needs_wakeup() {
            self.fq.wake();
        }
    }

    /// Copy mode sends only from sendto(), at most 32 frames per call
    /// (the kernel's TX batch): kick while frames wait, the ring asks for
    /// it and the kernel makes progress (a syscall per 32 frames, never
    /// per frame). A kick that sent nothing means the device is busy: the
    /// frames wait for the next round rather than the worker spinning on
    /// sendto.
    pub fn kick_pending(&mut self) {
        let mut pending = self.tx.pending();
        for _ in 0..RING.div_ceil(KERNEL_TX_BATCH) {
            if pending == 0 || !self.tx.needs_wakeup() {
                break;
            }
            self.tx.wake();
            let now = self.tx.pending();
            if now >= pending {
                break;
            }
            pending = now;
        }
    }
}

/// What the kernel counted on one socket (XDP_STATISTICS, the Linux 5.9+
/// layout): packets the XDP program steered to the socket that never
/// reached the worker.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KernelStats {
    /// No receive buffer (the fill ring was empty), or a frame too large.
    pub rx_dropped: u64,
    /// The RX ring was full: the worker was behind.
    pub rx_ring_full: u64,
    /// Transmit descriptors the kernel refused (a bug on our side).
    pub tx_invalid: u64,
}

/// Read the kernel's counters of the AF_XDP socket `fd` (control plane
/// only: one getsockopt per socket per `stats` request). `None` if `fd`
/// is not (or no longer) an AF_XDP socket.
pub fn kernel_stats(fd: i32) -> Option<KernelStats> {
    // struct xdp_statistics (linux/if_xdp.h).
    #[repr(C)]
    #[derive(Default)]
    struct XdpStatistics {
        rx_dropped: u64,
        rx_invalid_descs: u64,
        tx_invalid_descs: u64,
        rx_ring_full: u64,
        rx_fill_ring_empty_descs: u64,
        tx_ring_empty_descs: u64,
    }
    const SOL_XDP: libc::c_int = 283;
    const XDP_STATISTICS: libc::c_int = 7;
    let mut s = XdpStatistics::default();
    let mut len = std::mem::size_of::<XdpStatistics>() as libc::socklen_t;
    // SAFETY: s/len are valid for the kernel to write; with this length the
    // kernel reports rx_ring_full apart from rx_dropped.
    let r = unsafe {
        libc::getsockopt(fd, SOL_XDP, XDP_STATISTICS, (&mut s) as *mut XdpStatistics as *mut libc::c_void, &mut len)
    };
    if r != 0 || len as usize != std::mem::size_of::<XdpStatistics>() {
        return None;
    }
    Some(KernelStats {
        rx_dropped: s.rx_dropped + s.rx_invalid_descs,
        rx_ring_full: s.rx_ring_full,
        tx_invalid: s.tx_invalid_descs,
    })
}

/// XDP_OPTIONS: did the kernel give us zero-copy?
fn bound_zero_copy(fd: i32) -> bool {
    const SOL_XDP: libc::c_int = 283;
    const XDP_OPTIONS: libc::c_int = 8;
    const XDP_OPTIONS_ZEROCOPY: u32 = 1;
    let mut opts = 0u32;
    let mut len = std::mem::size_of::<u32>() as libc::socklen_t;
    // SAFETY: opts/len are valid for the kernel to write.
    let r =
        unsafe { libc::getsockopt(fd, SOL_XDP, XDP_OPTIONS, (&mut opts) as *mut u32 as *mut libc::c_void, &mut len) };
    r == 0 && opts & XDP_OPTIONS_ZEROCOPY != 0
}

/// Receive queues of `iface` (ETHTOOL_GCHANNELS; 1 when the driver does
/// not say).
pub fn rx_queues(iface: &str) -> u32 {
    #[repr(C)]
    #[derive(Default)]
    struct EthtoolChannels {
        cmd: u32,
        max_rx: u32,
        max_tx: u32,
        max_other: u32,
        max_combined: u32,
        rx_count: u32,
        tx_count: u32,
        other_count: u32,
        combined_count: u32,
    }
    const ETHTOOL_GCHANNELS: u32 = 0x3c;
    let mut ch = EthtoolChannels { cmd: ETHTOOL_GCHANNELS, ..Default::default() };
    // SAFETY: a datagram socket for the ioctl; ifreq zeroed, its data
    // pointer aimed at `ch`, which outlives the call.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return 1;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(iface.bytes().take(libc::IFNAMSIZ - 1)) {
            *d = s as libc::c_char;
        }
        req.ifr_ifru.ifru_data = (&mut ch) as *mut EthtoolChannels as *mut libc::c_char;
        let r = libc::ioctl(fd, libc::SIOCETHTOOL, &mut req);
        libc::close(fd);
        if r < 0 {
            return 1;
        }
    }
    ch.rx_count.max(ch.combined_count).max(1)
}
