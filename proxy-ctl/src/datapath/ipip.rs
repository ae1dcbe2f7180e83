//! The home agent's IP-in-IP encapsulation in eBPF (proxy-ebpf bin
//! `tc-ipip`): `tc_ipip_encap` on TC egress of the interface toward the
//! VPN gateway, fed with home address -> care-of address bindings.

use std::net::Ipv4Addr;

use anyhow::Context;
use aya::{
    Ebpf,
    maps::{HashMap, MapData, PerCpuArray},
    programs::{SchedClassifier, TcAttachType, tc},
};
use proxy_common::vpn::{IPIP_BINDINGS, IPIP_COUNTERS, IPIP_COUNTERS_LEN, IpipBinding};

static TC_IPIP_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tc-ipip"));

const PROGRAM: &str = "tc_ipip_encap";

/// The attached program and its maps; detached when dropped.
pub struct IpipEncap {
    _ebpf: Ebpf,
    bindings: HashMap<MapData, [u8; 4], IpipBinding>,
    counters: PerCpuArray<MapData, u64>,
    /// What `bindings` holds (see [`IpipEncap::set`]).
    installed: std::collections::HashMap<Ipv4Addr, IpipBinding>,
}

impl IpipEncap {
    /// Loads the program and attaches it to TC egress of `iface`.
    pub fn attach(iface: &str) -> anyhow::Result<IpipEncap> {
        let mut ebpf = Ebpf::load(TC_IPIP_OBJECT).context("loading tc-ipip")?;
        if let Err(e) = tc::qdisc_add_clsact(iface) {
            tracing::debug!(%iface, "clsact qdisc not added (exists, or TCX in use): {e}");
        }
        let prog: &mut SchedClassifier =
            ebpf.program_mut(PROGRAM).context("tc_ipip_encap missing from the object")?.try_into()?;
        prog.load().context("loading tc_ipip_encap (verifier)")?;
        prog.attach(iface, TcAttachType::Egress).with_context(|| format!("attaching tc_ipip_encap to {iface}"))?;
        let bindings = HashMap::try_from(ebpf.take_map(IPIP_BINDINGS).context("IPIP_BINDINGS missing")?)?;
        let counters = PerCpuArray::try_from(ebpf.take_map(IPIP_COUNTERS).context("IPIP_COUNTERS missing")?)?;
        Ok(IpipEncap { _ebpf: ebpf, bindings, counters, installed: std::collections::HashMap::new() })
    }

    /// Tunnels packets for `home` from `src` to `care_of`. Unchanged
    /// bindings cost no syscall: the map is ours alone (made at load), so
    /// the copy in `installed` is what it holds; on a handover this is
    /// one map update on the critical path, not a lookup and an update.
    pub fn set(&mut self, home: Ipv4Addr, src: Ipv4Addr, care_of: Ipv4Addr) -> anyhow::Result<()> {
        let b = IpipBinding { src: src.octets(), care_of: care_of.octets() };
        if self.installed.get(&home) == Some(&b) {
            return Ok(());
        }
        self.bindings.insert(home.octets(), b, 0).context("IPIP_BINDINGS full?")?;
        self.installed.insert(home, b);
        Ok(())
    }

    /// Stops tunnelling `home` (no binding: packets go out unchanged).
    pub fn remove(&mut self, home: Ipv4Addr) {
        if self.installed.remove(&home).is_some() {
            let _ = self.bindings.remove(&home.octets());
        }
    }

    /// Counters summed over CPUs, indexed by `IpipCounter`.
    pub fn counters(&self) -> [u64; IPIP_COUNTERS_LEN as usize] {
        let mut out = [0u64; IPIP_COUNTERS_LEN as usize];
        for (i, o) in out.iter_mut().enumerate() {
            if let Ok(v) = self.counters.get(&(i as u32), 0) {
                *o = v.iter().sum();
            }
        }
        out
    }
}
