//! Attaching the DNS steering programs (proxy-ebpf dns_steer.rs) to the
//! LAN interface: TC ingress sends the LAN's queries for any resolver to
//! the daemon's, TC egress gives the answers back the asked source.

use std::net::SocketAddr;

use aya::{
    Ebpf,
    maps::{Array, MapData},
    programs::{SchedClassifier, TcAttachType, tc},
};
use proxy_common::{
    dns::{DnsSteerConfig, STEER_F_V4, STEER_F_V6},
    maps,
};
use tracing::info;

use super::DatapathError;
use crate::{config::Config, net::to_addr16};

/// The steering configuration for the listen addresses of `[dns]`, or
/// `None` when `intercept` is off.
pub fn steer_config(cfg: &Config) -> Option<DnsSteerConfig> {
    let d = cfg.dns.as_ref().filter(|d| d.intercept)?;
    let mut s = DnsSteerConfig { upstream: to_addr16(d.upstream.ip()), ..Default::default() };
    for a in std::iter::once(d.listen).chain(d.listen_v6) {
        match a {
            SocketAddr::V4(v4) => {
                s.resolver_v4 = to_addr16((*v4.ip()).into());
                s.port_v4_be = v4.port().to_be();
                s.flags |= STEER_F_V4;
            }
            SocketAddr::V6(v6) => {
                s.resolver_v6 = to_addr16((*v6.ip()).into());
                s.port_v6_be = v6.port().to_be();
                s.flags |= STEER_F_V6;
            }
        }
    }
    Some(s)
}

fn classifier<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut SchedClassifier, DatapathError> {
    ebpf.program_mut(name)
        .ok_or(DatapathError::Program { name, source: aya::programs::ProgramError::NotLoaded })?
        .try_into()
        .map_err(|source| DatapathError::Program { name, source })
}

/// Write the steering configuration and attach both programs to `lan`.
/// The links live as long as `ebpf` (the daemon): steering stops with it.
pub fn attach(ebpf: &mut Ebpf, lan: &str, steer: DnsSteerConfig) -> Result<(), DatapathError> {
    let m = ebpf.map_mut(maps::DNS_STEER_CONFIG).ok_or(DatapathError::MissingMap(maps::DNS_STEER_CONFIG))?;
    let mut conf: Array<&mut MapData, DnsSteerConfig> =
        Array::try_from(m).map_err(|source| DatapathError::Map { name: maps::DNS_STEER_CONFIG, source })?;
    conf.set(0, steer, 0).map_err(|source| DatapathError::Map { name: maps::DNS_STEER_CONFIG, source })?;
    // TCX (kernel >= 6.6) needs no qdisc; older kernels use clsact, which
    // may already be there.
    if let Err(e) = tc::qdisc_add_clsact(lan) {
        tracing::debug!(%lan, "clsact qdisc not added (exists, or TCX in use): {e}");
    }
    for (name, at) in [("tc_dns_steer_in", TcAttachType::Ingress), ("tc_dns_steer_out", TcAttachType::Egress)] {
        let prog = classifier(ebpf, name)?;
        prog.load().map_err(|source| DatapathError::Program { name, source })?;
        prog.attach(lan, at).map_err(|source| DatapathError::Attach { iface: lan.into(), source })?;
    }
    info!(%lan, "DNS steering attached: LAN queries to any resolver go to the proxy's");
    Ok(())
}
