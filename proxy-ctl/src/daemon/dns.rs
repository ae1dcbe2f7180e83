//! The DNS resolver role (seed steps A-E): the tokio driver around the
//! sans-IO `proxy_proto::dns::Interceptor`. Legacy hosts use the proxy as
//! their resolver; a name with a HIP RR gets a substitute address, which
//! is installed in the datapath as a mapping to the HIP host's address
//! (pass-through mode until the HIP/ESP datapath lands); when the pool
//! expires a substitute, its mapping goes too.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use proxy_proto::dns::{
    self, Event, Interceptor, Locator, MappingEvent, NonHipPolicy, SubstitutePool, Transmit, Transport,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, UdpSocket},
    sync::{Mutex, mpsc},
};
use tracing::{debug, info, warn};

use crate::{
    config::{Config, DnsSection},
    datapath::{Datapath, TableError},
    mapping_rules::MappingError,
    net::Prefix,
};

fn v4(p: Option<Prefix>) -> Option<(std::net::Ipv4Addr, u8)> {
    p.and_then(|p| match p.addr {
        IpAddr::V4(a) => Some((a, p.len)),
        IpAddr::V6(_) => None,
    })
}

fn v6(p: Option<Prefix>) -> Option<(std::net::Ipv6Addr, u8)> {
    p.and_then(|p| match p.addr {
        IpAddr::V6(a) => Some((a, p.len)),
        IpAddr::V4(_) => None,
    })
}

pub async fn run(cfg: Arc<Config>, d: DnsSection, dp: Arc<Mutex<Datapath>>) -> anyhow::Result<()> {
    let mut pool = SubstitutePool::new(v4(cfg.pool.v4), v6(cfg.pool.v6)).context("[pool] for DNS")?;
    // Substitutes already mapped (static mappings, or DNS mappings the
    // pinned maps kept across a restart) must never be handed out again
    // for another host. Kept ones stay until deleted with the CLI.
    let existing = dp.lock().await.mappings()?;
    let reserved = existing.iter().filter(|(sub, _)| pool.reserve(*sub)).count();
    if reserved > 0 {
        info!(reserved, "substitutes in use by existing mappings are not handed out");
    }
    let core_cfg = dns::Config {
        non_hip_policy: if d.non_hip == "refuse" { NonHipPolicy::Refuse } else { NonHipPolicy::Pass },
        max_ttl: d.max_ttl,
        ..dns::Config::default()
    };
    let random: dns::RandomSource = Box::new(|buf: &mut [u8]| {
        // RFC 5452: upstream IDs must be unpredictable; a failing system RNG
        // is not something to answer queries without.
        aws_lc_rs::rand::fill(buf).expect("system random source");
    });
    let mut core = Interceptor::new(core_cfg, pool, random);
    let clients = UdpSocket::bind(d.listen).await.with_context(|| format!("[dns] listen {}", d.listen))?;
    let tcp_clients = TcpListener::bind(d.listen).await.with_context(|| format!("[dns] listen {} (TCP)", d.listen))?;
    // Queries from TCP clients, and where to write each client's answers.
    let (tcp_query_tx, mut tcp_query_rx) = mpsc::channel::<(SocketAddr, Vec<u8>)>(256);
    let mut tcp_answer: std::collections::HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = Default::default();
    let any: SocketAddr = if d.upstream.is_ipv4() { "0.0.0.0:0".parse()? } else { "[::]:0".parse()? };
    let upstream = UdpSocket::bind(any).await?;
    upstream.connect(d.upstream).await?;
    info!(listen = %d.listen, upstream = %d.upstream, "DNS resolver ready");
    // Answers to queries retried over TCP come back through this channel.
    let (tcp_tx, mut tcp_rx) = mpsc::channel::<Vec<u8>>(64);
    let mut cbuf = vec![0u8; 65535];
    let mut ubuf = vec![0u8; 65535];
    loop {
        let deadline = [core.poll_timeout(), core.pool().poll_timeout()].into_iter().flatten().min();
        let sleep = deadline.map(|t| t.saturating_duration_since(Instant::now())).unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            r = clients.recv_from(&mut cbuf) => {
                let (n, from) = r?;
                if let Err(e) = core.handle_client_query(Instant::now(), from, Transport::Udp, &cbuf[..n]) {
                    debug!(%from, "DNS query dropped: {e}");
                }
            }
            r = upstream.recv(&mut ubuf) => {
                let n = r?;
                if let Err(e) = core.handle_upstream_response(Instant::now(), &ubuf[..n]) {
                    debug!("upstream answer dropped: {e}");
                }
            }
            r = tcp_clients.accept() => {
                let (stream, from) = r?;
                let (answer_tx, answer_rx) = mpsc::channel::<Vec<u8>>(16);
                tcp_answer.retain(|_, tx| !tx.is_closed());
                tcp_answer.insert(from, answer_tx);
                tokio::spawn(tcp_client(stream, from, tcp_query_tx.clone(), answer_rx));
            }
            Some((from, msg)) = tcp_query_rx.recv() => {
                if let Err(e) = core.handle_client_query(Instant::now(), from, Transport::Tcp, &msg) {
                    debug!(%from, "DNS query over TCP dropped: {e}");
                }
            }
            Some(msg) = tcp_rx.recv() => {
                if let Err(e) = core.handle_upstream_response(Instant::now(), &msg) {
                    debug!("upstream TCP answer dropped: {e}");
                }
            }
            _ = tokio::time::sleep(sleep) => {
                let now = Instant::now();
                core.handle_timeout(now);
                for freed in core.pool_mut().expire(now) {
                    let mut dp = dp.lock().await;
                    match dp.mapping_del(freed.substitute) {
                        Ok(_) | Err(TableError::Mapping(MappingError::NotFound(_))) => {
                            info!(substitute = %freed.substitute, "substitute expired, mapping removed")
                        }
                        Err(e) => warn!(substitute = %freed.substitute, "removing expired mapping: {e}"),
                    }
                }
            }
        }
        while let Some(t) = core.poll_transmit() {
            match t {
                Transmit::Upstream { transport: Transport::Udp, bytes, .. } => {
                    if let Err(e) = upstream.send(&bytes).await {
                        warn!("upstream send: {e}");
                    }
                }
                Transmit::Upstream { transport: Transport::Tcp, bytes, .. } => {
                    let (to, tx) = (d.upstream, tcp_tx.clone());
                    tokio::spawn(async move {
                        match tcp_exchange(to, &bytes).await {
                            Ok(answer) => {
                                let _ = tx.send(answer).await;
                            }
                            Err(e) => debug!("upstream TCP query: {e}"),
                        }
                    });
                }
                Transmit::Client { client, transport: Transport::Udp, bytes } => {
                    if let Err(e) = clients.send_to(&bytes, client).await {
                        debug!(%client, "answer not sent: {e}");
                    }
                }
                Transmit::Client { client, transport: Transport::Tcp, bytes } => {
                    if let Some(tx) = tcp_answer.get(&client) {
                        let _ = tx.try_send(bytes);
                    }
                }
            }
        }
        while let Some(ev) = core.poll_event() {
            match ev {
                Event::Mapping(m) => install(&dp, &m).await,
                Event::Failed { name, reason } => warn!(%name, "SERVFAIL: {reason}"),
                Event::Refused { name } => info!(%name, "refused: no HIP RR"),
            }
        }
    }
}

/// A client on TCP (RFC 1035 §4.2.2 / RFC 7766): length-prefixed queries
/// in, answers out, until the client closes or stays idle for 10 s.
async fn tcp_client(
    stream: TcpStream,
    from: SocketAddr,
    queries: mpsc::Sender<(SocketAddr, Vec<u8>)>,
    mut answers: mpsc::Receiver<Vec<u8>>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (mut r, mut w) = stream.into_split();
    // Queries not answered yet: a client may half-close right after asking.
    let pending = Arc::new(AtomicUsize::new(0));
    let p2 = pending.clone();
    let writer = tokio::spawn(async move {
        while let Some(a) = answers.recv().await {
            p2.fetch_sub(1, Ordering::Relaxed);
            let Ok(framed) = dns::frame(&a) else { continue };
            if w.write_all(&framed).await.is_err() {
                break;
            }
        }
    });
    let mut deframer = dns::TcpDeframer::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match tokio::time::timeout(Duration::from_secs(10), r.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => break,
        };
        deframer.push(&buf[..n]);
        loop {
            match deframer.next_message() {
                Ok(Some(msg)) => {
                    pending.fetch_add(1, Ordering::Relaxed);
                    if queries.send((from, msg)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    debug!(%from, "bad TCP framing: {e}");
                    writer.abort();
                    return;
                }
            }
        }
    }
    // Let answers still in flight go out (the core answers or SERVFAILs
    // every query within its upstream timeout) before closing.
    let end = Instant::now() + Duration::from_secs(6);
    while pending.load(Ordering::Relaxed) > 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.abort();
}

/// One query over TCP (RFC 1035 §4.2.2 framing).
async fn tcp_exchange(to: SocketAddr, query: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(to)).await??;
    s.write_all(&dns::frame(query)?).await?;
    let len = tokio::time::timeout(Duration::from_secs(5), s.read_u16()).await?? as usize;
    let mut msg = vec![0u8; len];
    s.read_exact(&mut msg).await?;
    Ok(msg)
}

/// Pass-through mode: the substitute maps to the HIP host's own address
/// of the same family (a rendezvous-only host needs the HIP datapath).
async fn install(dp: &Arc<Mutex<Datapath>>, m: &MappingEvent) {
    let peer = m.locators.iter().find_map(|l| match l {
        Locator::Address(a) if a.is_ipv4() == m.substitute.is_ipv4() => Some(*a),
        _ => None,
    });
    let Some(peer) = peer else {
        warn!(name = %m.name, substitute = %m.substitute, "no address of the substitute's family: mapping not installed");
        return;
    };
    let mut dp = dp.lock().await;
    match dp.mapping_add(m.substitute, peer) {
        Ok(()) => info!(name = %m.name, substitute = %m.substitute, %peer, "mapping from DNS installed"),
        // The pool never hands out a mapped address (reserve above), so a
        // duplicate is our own mapping refreshed by a repeated query.
        Err(TableError::Mapping(MappingError::Duplicate(_))) => {}
        Err(e) => warn!(name = %m.name, substitute = %m.substitute, "mapping not installed: {e}"),
    }
}
