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
}

impl Daemon {
    /// The datapath, or the error a CLI user sees when this daemon has none.
    pub fn datapath(&self) -> anyhow::Result<&Arc<Mutex<Datapath>>> {
        self.dp
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this daemon runs no XDP datapath (no [datapath] in its config)"))
    }
}
