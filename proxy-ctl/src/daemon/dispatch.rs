//! Turning a control request into datapath operations and a response.

use proxy_common::ipproto;

use super::Daemon;
use crate::{
    config::Config,
    control::{CounterInfo, DnsMappingInfo, FlowInfo, MappingInfo, Request, Response},
    datapath::Datapath,
    flow_timeout, mapping_rules,
    net::from_addr16,
};

/// Answer one control request. Requests for a role this daemon does not
/// run get an error response naming what is missing.
pub async fn dispatch(daemon: &Daemon, req: Request) -> Response {
    let result = match req {
        Request::MappingAdd { substitute, peer } if mapping_rules::is_hip_mapping(&daemon.cfg, peer) => {
            hip_mapping_add(daemon, substitute, peer).await
        }
        Request::MappingDel { substitute } if daemon.proxy_esp.is_some() => {
            let r = datapath_request(daemon, Request::MappingDel { substitute }).await;
            if let Some(p) = &daemon.proxy_esp {
                p.unmapped(substitute);
            }
            r
        }
        req @ (Request::MappingAdd { .. }
        | Request::MappingDel { .. }
        | Request::MappingList
        | Request::NatList
        | Request::Stats) => datapath_request(daemon, req).await,
        req @ (Request::VpnBindings | Request::VpnBundles | Request::VpnHistory | Request::VpnStats) => {
            super::vpn::request(daemon, req)
        }
        req @ (Request::AssocConnect { .. }
        | Request::AssocClose { .. }
        | Request::AssocList
        | Request::HipStats
        | Request::RvsList
        | Request::AssocRekey { .. }) => super::hip_dispatch::handle(daemon.hip(), req).await,
        req @ (Request::SaAdd { .. } | Request::SaDel { .. } | Request::SaMove { .. } | Request::SaList { .. }) => {
            daemon.sa_table().and_then(|t| super::esp::handle(t, req))
        }
        Request::EspFlows => daemon.proxy_esp().map(|p| p.list()),
    };
    match result.map(|r| with_afxdp(daemon, with_proxy_esp(daemon, with_dns(daemon, r)))) {
        Ok(r) => r,
        Err(e) => Response::Error { message: e.to_string() },
    }
}

/// Adds what the DNS role knows to a datapath response: who each
/// substitute stands for, and the role's counters.
fn with_dns(daemon: &Daemon, r: Response) -> Response {
    let Some(dns) = &daemon.dns else { return r };
    let dns = dns.lock().unwrap_or_else(|e| e.into_inner());
    match r {
        Response::Mappings { mut mappings } => {
            let now = std::time::Instant::now();
            for m in &mut mappings {
                m.dns = dns.mappings.get(&m.substitute).map(|d| DnsMappingInfo {
                    name: d.name.clone(),
                    hit: super::dns_state::hit_text(&d.hit),
                    locators: d.locators.iter().map(super::dns_state::locator_text).collect(),
                    locator: dns.active.get(&d.hit).copied(),
                    expires_in_secs: d.expiry.saturating_duration_since(now).as_secs(),
                });
            }
            Response::Mappings { mappings }
        }
        Response::Stats { counters, mappings, mappings_max, flows, flows_max, .. } => {
            Response::Stats { counters, mappings, mappings_max, flows, flows_max, dns: dns.counters.list() }
        }
        r => r,
    }
}

/// Adds the AF_XDP workers' counters (`afxdp_*`) to `stats`.
fn with_afxdp(daemon: &Daemon, r: Response) -> Response {
    match (r, &daemon.afxdp) {
        (Response::Stats { mut counters, mappings, mappings_max, flows, flows_max, dns }, Some(x)) => {
            counters.extend(x.counters().into_iter().map(|(name, value)| CounterInfo { name, value }));
            Response::Stats { counters, mappings, mappings_max, flows, flows_max, dns }
        }
        (r, _) => r,
    }
}

/// HIP mappings' flows live in the proxy's translator, not in the XDP
/// NAT: count them in `mapping list`.
fn with_proxy_esp(daemon: &Daemon, r: Response) -> Response {
    let Some(p) = &daemon.proxy_esp else { return r };
    match r {
        Response::Mappings { mut mappings } => {
            let per_sub = p.flows_per_substitute();
            for m in &mut mappings {
                m.flows += u64::from(per_sub.get(&m.substitute).copied().unwrap_or(0));
            }
            Response::Mappings { mappings }
        }
        r => r,
    }
}

/// `mapping add SUBSTITUTE HIT` on the proxy: XDP passes the substitute
/// to the ESP path, the translator maps it onto the HIT.
async fn hip_mapping_add(
    daemon: &Daemon,
    substitute: std::net::IpAddr,
    peer: std::net::IpAddr,
) -> anyhow::Result<Response> {
    let std::net::IpAddr::V6(hit) = peer else { anyhow::bail!("{peer} is not a HIT") };
    mapping_rules::check_new(&daemon.cfg, substitute, peer)?;
    let p = daemon.proxy_esp()?;
    daemon.datapath()?.lock().await.mapping_add_hip(substitute, hit)?;
    p.map_static(substitute, hit);
    Ok(Response::Ok)
}

async fn datapath_request(daemon: &Daemon, req: Request) -> anyhow::Result<Response> {
    let dp = daemon.datapath()?;
    handle_datapath(&mut *dp.lock().await, &daemon.cfg, req)
}

fn proto_name(p: u8) -> String {
    match p {
        ipproto::TCP => "tcp".into(),
        ipproto::UDP => "udp".into(),
        ipproto::ICMP => "icmp".into(),
        ipproto::ICMPV6 => "icmpv6".into(),
        other => other.to_string(),
    }
}

fn handle_datapath(dp: &mut Datapath, cfg: &Config, req: Request) -> anyhow::Result<Response> {
    Ok(match req {
        Request::MappingAdd { substitute, peer } => {
            mapping_rules::check_new(cfg, substitute, peer)?;
            dp.mapping_add(substitute, peer)?;
            tracing::info!(%substitute, %peer, "mapping added");
            Response::Ok
        }
        Request::MappingDel { substitute } => {
            let flows = dp.mapping_del(substitute)?;
            tracing::info!(%substitute, flows, "mapping deleted");
            Response::Ok
        }
        Request::MappingList => {
            let flows = dp.flows()?;
            let mappings = dp
                .mappings()?
                .into_iter()
                .map(|(substitute, m)| {
                    let key = crate::net::to_addr16(substitute);
                    MappingInfo {
                        substitute,
                        peer: from_addr16(m.peer),
                        flows: flows.iter().filter(|f| f.key.dst == key).count() as u64,
                        dns: None,
                    }
                })
                .collect();
            Response::Mappings { mappings }
        }
        Request::NatList => {
            let now = super::gc::monotonic_ns();
            let mut flows: Vec<FlowInfo> = dp
                .flows()?
                .into_iter()
                .map(|f| FlowInfo {
                    proto: proto_name(f.key.proto),
                    legacy: from_addr16(f.key.src),
                    legacy_port: u16::from_be(f.key.sport_be),
                    substitute: from_addr16(f.key.dst),
                    port: u16::from_be(f.key.dport_be),
                    peer: from_addr16(f.entry.peer),
                    nat_port: u16::from_be(f.entry.nat_port_be),
                    state: flow_timeout::state_name(f.key.proto, f.entry.tcp_state).into(),
                    idle_secs: now.saturating_sub(f.entry.last_seen_ns) / 1_000_000_000,
                    packets_out: f.entry.packets_out,
                    bytes_out: f.entry.bytes_out,
                    packets_in: f.entry.packets_in,
                    bytes_in: f.entry.bytes_in,
                })
                .collect();
            flows.sort_by_key(|f| (f.legacy, f.legacy_port, f.nat_port));
            Response::Flows { flows }
        }
        Request::Stats => {
            let counters =
                dp.counters()?.into_iter().map(|(c, value)| CounterInfo { name: c.name().into(), value }).collect();
            Response::Stats {
                counters,
                mappings: dp.mappings()?.len() as u64,
                mappings_max: Datapath::mappings_max(),
                flows: dp.flows()?.len() as u64,
                flows_max: Datapath::flows_max(),
                dns: Vec::new(),
            }
        }
        other => anyhow::bail!("not a datapath request: {other:?}"),
    })
}
