//! The CLI's side of the control socket.

use std::path::Path;

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::UnixStream,
};

use crate::control::{Request, Response};

/// Send one request; an error response becomes an error with the daemon's
/// message, so the CLI exits non-zero with it.
pub async fn call(socket: &Path, req: &Request) -> anyhow::Result<Response> {
    let stream = UnixStream::connect(socket).await.with_context(|| {
        format!("cannot reach the daemon at {} (is `proxy-ctl run` running? --socket sets the path)", socket.display())
    })?;
    let (r, mut w) = stream.into_split();
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    let mut resp = String::new();
    BufReader::new(r).read_line(&mut resp).await?;
    if resp.is_empty() {
        bail!("the daemon closed the connection without answering");
    }
    match serde_json::from_str::<Response>(&resp).context("unreadable answer from the daemon")? {
        Response::Error { message } => bail!("{message}"),
        other => Ok(other),
    }
}

pub fn print_json(resp: &Response) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(resp)?);
    Ok(())
}
