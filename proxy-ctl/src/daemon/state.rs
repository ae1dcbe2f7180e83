//! What one running daemon holds, shared by the control socket and the
//! role drivers. Each role adds its handle here; a role that is not
//! configured is `None`, and requests for it get a clear error.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::{config::Config, datapath::Datapath};

pub struct Daemon {
    pub cfg: Arc<Config>,
    /// The XDP datapath (`[datapath]` configured).
    pub dp: Option<Arc<Mutex<Datapath>>>,
    /// The mobile-VPN role's view (`[vpn.*]` configured).
    pub vpn: Option<Arc<std::sync::Mutex<crate::vpn::view::VpnView>>>,
    /// The HIP role (`[hip]` configured).
    pub hip: Option<super::hip::HipHandle>,
    /// The SA store (`[esp]` configured).
    pub esp: Option<Arc<crate::esp::SaTable>>,
    /// The DNS role's mappings and counters (`[dns]` configured).
    pub dns: Option<Arc<std::sync::Mutex<super::dns_state::DnsState>>>,
    /// The proxy's AF_XDP ESP workers (`[esp] datapath`, issue 5).
    pub afxdp: Option<Arc<crate::esp::afxdp::AfXdpPath>>,
    /// The proxy's ESP path (`[hip] role = "proxy"` with `[esp]`).
    pub proxy_esp: Option<Arc<super::esp_proxy::ProxyEsp>>,
}

impl Daemon {
    /// The SA store, or the error a CLI user sees when this daemon has none.
    pub fn sa_table(&self) -> anyhow::Result<&Arc<crate::esp::SaTable>> {
        self.esp.as_ref().ok_or_else(|| anyhow::anyhow!("this daemon keeps no SAs (no [esp] in its config)"))
    }

    /// The datapath, or the error a CLI user sees when this daemon has none.
    pub fn datapath(&self) -> anyhow::Result<&Arc<Mutex<Datapath>>> {
        self.dp
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this daemon runs no XDP datapath (no [datapath] in its config)"))
    }

    /// The proxy's translator, or the error a CLI user sees without it.
    pub fn proxy_esp(&self) -> anyhow::Result<&Arc<super::esp_proxy::ProxyEsp>> {
        self.proxy_esp.as_ref().ok_or_else(|| {
            anyhow::anyhow!("this daemon runs no proxy ESP path (needs [hip] role = \"proxy\" and [esp])")
        })
    }

    /// The HIP role, or the error a CLI user sees when this daemon has none.
    pub fn hip(&self) -> anyhow::Result<&super::hip::HipHandle> {
        self.hip.as_ref().ok_or_else(|| anyhow::anyhow!("this daemon runs no HIP (no [hip] in its config)"))
    }
}
