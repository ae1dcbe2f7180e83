//! The control socket: newline-delimited JSON (crate::control).

use std::{os::unix::fs::PermissionsExt, path::Path, sync::Arc};

use anyhow::Context;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
};
use tracing::{debug, warn};

use super::Daemon;
use crate::control::{Request, Response};

/// A request line longer than this is refused (a client bug or abuse).
const MAX_REQUEST: usize = 64 * 1024;

pub fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // A stale socket from a daemon that died: connect fails, so replace it.
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!("another daemon is already listening on {}", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    let l = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    // Root-only: the socket changes the datapath.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

pub async fn serve(listener: UnixListener, daemon: Arc<Daemon>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let daemon = daemon.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, &daemon).await {
                        debug!("control connection: {e}");
                    }
                });
            }
            Err(e) => warn!("control socket accept: {e}"),
        }
    }
}

async fn connection(stream: UnixStream, daemon: &Daemon) -> anyhow::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Some(line) = lines.next_line().await? {
        let resp = if line.len() > MAX_REQUEST {
            Response::Error { message: format!("request longer than {MAX_REQUEST} bytes") }
        } else {
            match serde_json::from_str::<Request>(&line) {
                Ok(req) => super::dispatch(daemon, req).await,
                Err(e) => Response::Error { message: format!("bad request: {e}") },
            }
        };
        let mut out = serde_json::to_vec(&resp)?;
        out.push(b'\n');
        w.write_all(&out).await?;
    }
    Ok(())
}
