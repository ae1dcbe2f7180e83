//! Loading and attaching the XDP datapath.

use std::path::{Path, PathBuf};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData, PerCpuArray},
    programs::{Xdp, XdpMode, links::FdLink},
};
use proxy_common::{
    Addr16,
    config::{CFG_F_HAVE_V4, CFG_F_HAVE_V6, CFG_F_REDIRECT, DatapathConfig},
    maps,
    nat::{FlowEntry, FlowKey, Mapping, ReplyKey},
};
use tracing::{info, warn};

use crate::{config, net::to_addr16};

/// The objects built by build.rs from proxy-ebpf.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/proxy"));
static XDP_PASS_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp-pass"));

#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    #[error("bpffs at {dir}: {source}")]
    Bpffs { dir: PathBuf, source: std::io::Error },
    #[error("loading the eBPF object: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("program {name}: {source}")]
    Program { name: &'static str, source: aya::programs::ProgramError },
    #[error("attaching XDP to {iface}: {source}")]
    Attach { iface: String, source: aya::programs::ProgramError },
    #[error("map {name}: {source}")]
    Map { name: &'static str, source: aya::maps::MapError },
    #[error("map {0} missing from the eBPF object")]
    MissingMap(&'static str),
    #[error("setting kernel parameters (set manage_sysctls = false to manage them yourself): {source}")]
    Sysctl { source: std::io::Error },
    #[error("{0}")]
    NotConfigured(String),
    #[error("pinning the link at {path}: {source}")]
    Pin { path: PathBuf, source: aya::pin::PinError },
}

/// The loaded datapath. Dropping it detaches the programs; the pinned maps
/// (mappings, NAT flows, counters) stay for the next start.
pub struct Datapath {
    ebpf: Ebpf,
    pub(crate) substitutes: HashMap<MapData, Addr16, Mapping>,
    pub(crate) flows: HashMap<MapData, FlowKey, FlowEntry>,
    pub(crate) replies: HashMap<MapData, ReplyKey, FlowKey>,
    pub(crate) counters: PerCpuArray<MapData, u64>,
    /// AF_XDP steering (issue 5): sockets by queue, steered substitutes and SPIs.
    pub(crate) xsk: super::xsk::XskMaps,
}

fn xdp_mode(m: config::XdpMode) -> XdpMode {
    match m {
        config::XdpMode::Auto => XdpMode::Default,
        config::XdpMode::Native => XdpMode::Driver,
        config::XdpMode::Skb => XdpMode::Skb,
    }
}

/// Take map `name` out of the object as its typed form (HashMap, Array, ...).
pub(super) fn take<M>(ebpf: &mut Ebpf, name: &'static str) -> Result<M, DatapathError>
where
    M: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let m = ebpf.take_map(name).ok_or(DatapathError::MissingMap(name))?;
    M::try_from(m).map_err(|source| DatapathError::Map { name, source })
}

/// The XDP program `name` of a loaded object.
pub(super) fn xdp_program<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Xdp, DatapathError> {
    ebpf.program_mut(name)
        .ok_or(DatapathError::Program { name, source: aya::programs::ProgramError::NotLoaded })?
        .try_into()
        .map_err(|source| DatapathError::Program { name, source })
}

/// The datapath's view of the configuration.
pub fn datapath_config(cfg: &config::Config) -> DatapathConfig {
    let mut d = DatapathConfig { port_min: cfg.nat.port_min, port_max: cfg.nat.port_max, ..Default::default() };
    if let Some(a) = cfg.nat.wan_v4 {
        d.wan_v4 = to_addr16(a.into());
        d.flags |= CFG_F_HAVE_V4;
    }
    if let Some(a) = cfg.nat.wan_v6 {
        d.wan_v6 = to_addr16(a.into());
        d.flags |= CFG_F_HAVE_V6;
    }
    if let Some(p) = cfg.pool.v4 {
        d.pool_v4 = to_addr16(p.addr);
        d.pool_v4_len = p.len;
    }
    if let Some(p) = cfg.pool.v6 {
        d.pool_v6 = to_addr16(p.addr);
        d.pool_v6_len = p.len;
    }
    if cfg.datapath.as_ref().is_some_and(|d| d.redirect) {
        d.flags |= CFG_F_REDIRECT;
    }
    d
}

impl Datapath {
    /// Remove the pinned maps (`proxy-ctl run --reset-state`): flows and
    /// mappings start empty.
    pub fn reset_state(pin_dir: &Path) -> std::io::Result<()> {
        for name in [maps::SUBSTITUTES, maps::NAT_FLOWS, maps::NAT_REPLIES, maps::CONFIG, maps::COUNTERS] {
            match std::fs::remove_file(pin_dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Load, pin and attach: what `proxy-ctl run` does.
    pub fn load(cfg: &config::Config) -> Result<Datapath, DatapathError> {
        let mut dp = Datapath::load_unattached(cfg)?;
        dp.attach(cfg)?;
        if !cfg.datapath_section().map_err(DatapathError::NotConfigured)?.redirect {
            warn!("redirect = false: translated packets use the kernel's forwarding path (needs ip_forward=1)");
        }
        Ok(dp)
    }

    /// Load the programs and (pinned) maps without attaching anything:
    /// for [`Datapath::test_run`] fixtures.
    pub fn load_unattached(cfg: &config::Config) -> Result<Datapath, DatapathError> {
        let dir = &cfg.datapath_section().map_err(DatapathError::NotConfigured)?.pin_dir;
        super::ensure_bpffs(dir).map_err(|source| DatapathError::Bpffs { dir: dir.clone(), source })?;
        let mut ebpf = EbpfLoader::new().default_map_pin_directory(dir).load(EBPF_OBJECT)?;
        if let Err(e) = aya_log::EbpfLogger::init(&mut ebpf) {
            // The datapath logs nothing routinely; no log maps is not an error.
            tracing::debug!("aya-log not initialised: {e}");
        }

        let mut conf: Array<MapData, DatapathConfig> = take(&mut ebpf, maps::CONFIG)?;
        conf.set(0, datapath_config(cfg), 0).map_err(|source| DatapathError::Map { name: maps::CONFIG, source })?;

        let prog = xdp_program(&mut ebpf, "xdp_proxy")?;
        prog.load().map_err(|source| DatapathError::Program { name: "xdp_proxy", source })?;

        let substitutes = take(&mut ebpf, maps::SUBSTITUTES)?;
        let flows = take(&mut ebpf, maps::NAT_FLOWS)?;
        let replies = take(&mut ebpf, maps::NAT_REPLIES)?;
        let counters = take(&mut ebpf, maps::COUNTERS)?;
        let xsk = super::xsk::XskMaps::take(&mut ebpf)?;
        Ok(Datapath { ebpf, substitutes, flows, replies, counters, xsk })
    }

    fn xdp_proxy(&mut self) -> Result<&mut Xdp, DatapathError> {
        xdp_program(&mut self.ebpf, "xdp_proxy")
    }

    fn attach(&mut self, cfg: &config::Config) -> Result<(), DatapathError> {
        let dsec = cfg.datapath_section().map_err(DatapathError::NotConfigured)?;
        let mut ifaces = vec![dsec.lan.clone()];
        if dsec.wan != dsec.lan {
            ifaces.push(dsec.wan.clone());
        }
        if dsec.manage_sysctls {
            super::sysctl::apply(&ifaces, cfg.nat.wan_v4.is_some(), cfg.nat.wan_v6.is_some())
                .map_err(|source| DatapathError::Sysctl { source })?;
        }
        let prog = self.xdp_proxy()?;
        for iface in &ifaces {
            prog.attach(iface, xdp_mode(dsec.xdp_mode))
                .map_err(|source| DatapathError::Attach { iface: iface.clone(), source })?;
            info!(%iface, "xdp_proxy attached");
        }
        if let Some(steer) = super::dns_steer::steer_config(cfg) {
            super::dns_steer::attach(&mut self.ebpf, &dsec.lan, steer)?;
        }
        Ok(())
    }

    /// Run `xdp_proxy` once on `frame` with BPF_PROG_TEST_RUN: the XDP
    /// verdict and the frame as the program left it.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<(u32, Vec<u8>), DatapathError> {
        use aya::programs::{TestRun, TestRunOptions};
        let mut out = vec![0u8; frame.len() + 256];
        let prog = self.xdp_proxy()?;
        let r = prog
            .test_run(TestRunOptions { data_in: Some(frame), data_out: Some(&mut out), ..TestRunOptions::new() })
            .map_err(|source| DatapathError::Program { name: "xdp_proxy", source })?;
        out.truncate(r.data_size_out as usize);
        Ok((r.return_value, out))
    }
}

/// Attach the do-nothing `xdp_pass` program to `iface` and pin the link at
/// `pin` so it stays after this process exits. veth drops frames that XDP
/// redirects into it unless its peer runs an XDP program (TOOLCHAIN.md);
/// test and demo topologies put this on the far ends of their veths.
pub fn attach_xdp_pass(iface: &str, pin: &Path) -> Result<(), DatapathError> {
    let mut ebpf = Ebpf::load(XDP_PASS_OBJECT)?;
    let prog = xdp_program(&mut ebpf, "xdp_pass")?;
    prog.load().map_err(|source| DatapathError::Program { name: "xdp_pass", source })?;
    let id =
        prog.attach(iface, XdpMode::Default).map_err(|source| DatapathError::Attach { iface: iface.into(), source })?;
    let link = prog.take_link(id).map_err(|source| DatapathError::Program { name: "xdp_pass", source })?;
    let fd: FdLink = link
        .try_into()
        .map_err(|_| DatapathError::Program { name: "xdp_pass", source: aya::programs::ProgramError::NotAttached })?;
    if let Some(parent) = pin.parent() {
        super::ensure_bpffs(parent).map_err(|source| DatapathError::Bpffs { dir: parent.into(), source })?;
    }
    fd.pin(pin).map_err(|source| DatapathError::Pin { path: pin.into(), source })?;
    Ok(())
}
