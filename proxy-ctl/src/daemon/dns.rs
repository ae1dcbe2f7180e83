//! The DNS resolver role (seed steps A-E): the tokio driver around the
//! sans-IO `proxy_proto::dns::Interceptor`. Legacy hosts use the proxy as
//! their resolver; a name with a HIP RR gets a substitute address, which
//! is installed in the datapath as a mapping to the HIP host's address
//! (pass-through mode until the HIP/ESP datapath lands); when the pool
//! expires a substitute, its mapping goes too.
//!
//! With the proxy's ESP path (`esp_proxy.rs`) a substitute maps to the HIP
//! host's HIT instead: the XDP mapping is flagged HIP (XDP passes its
//! packets to the kernel, which routes them into the ESP TUN device) and
//! the translator learns substitute -> (our HIT, peer HIT).

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
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

use super::dns_state::{DnsCounters, DnsState};
use super::esp_proxy::ProxyEsp;
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

/// The sockets legacy hosts talk to: `listen` and, on dual-stack LANs,
/// `listen_v6`.
struct ClientSockets {
    udp: UdpSocket,
    udp6: Option<UdpSocket>,
    tcp: TcpListener,
    tcp6: Option<TcpListener>,
}

/// Receive buffer of the UDP sockets: a burst of queries (and of the
/// three upstream answers each one causes) must not overflow the kernel's
/// default ~200 KiB and be lost silently.
const UDP_RCVBUF: libc::c_int = 4 << 20;

fn grow_rcvbuf(s: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let v = UDP_RCVBUF;
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let p = &v as *const libc::c_int as *const libc::c_void;
    // SAFETY: a valid socket fd and a c_int option value of the right size.
    // SO_RCVBUFFORCE (root) ignores net.core.rmem_max; SO_RCVBUF is capped by it.
    let forced = unsafe { libc::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, p, len) };
    if forced != 0 {
        // SAFETY: as above.
        unsafe { libc::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, p, len) };
    }
}

impl ClientSockets {
    async fn bind(d: &DnsSection) -> anyhow::Result<Self> {
        let udp = UdpSocket::bind(d.listen).await.with_context(|| format!("[dns] listen {}", d.listen))?;
        grow_rcvbuf(&udp);
        let tcp = TcpListener::bind(d.listen).await.with_context(|| format!("[dns] listen {} (TCP)", d.listen))?;
        let (udp6, tcp6) = match d.listen_v6 {
            Some(a) => (
                Some(UdpSocket::bind(a).await.with_context(|| format!("[dns] listen_v6 {a}"))?).inspect(grow_rcvbuf),
                Some(TcpListener::bind(a).await.with_context(|| format!("[dns] listen_v6 {a} (TCP)"))?),
            ),
            None => (None, None),
        };
        Ok(Self { udp, udp6, tcp, tcp6 })
    }

    /// The socket answers to `client` leave from: its family's.
    fn udp_for(&self, client: SocketAddr) -> &UdpSocket {
        match &self.udp6 {
            Some(s) if client.is_ipv6() => s,
            _ => &self.udp,
        }
    }
}

async fn recv_opt(s: &Option<UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match s {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn accept_opt(l: &Option<TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// The DNS core's configuration from `[dns]`.
fn core_config(d: &DnsSection) -> anyhow::Result<dns::Config> {
    Ok(dns::Config {
        non_hip_policy: if d.non_hip == "refuse" { NonHipPolicy::Refuse } else { NonHipPolicy::Pass },
        max_ttl: d.max_ttl,
        min_mapping_lifetime: Duration::from_secs(d.min_mapping_secs),
        upstream_timeout: Duration::from_millis(d.upstream_timeout_ms),
        // Retransmit a lost UDP query once, well before the deadline.
        upstream_retransmit: Some(Duration::from_millis(d.upstream_timeout_ms * 3 / 10).max(Duration::from_millis(1))),
        static_hosts: crate::dns_hosts::table(&d.hosts).context("[[dns.host]]")?,
        cache_size: d.cache_size,
        ..dns::Config::default()
    })
}

/// At most this many datagrams are read from one socket before the other
/// event sources get their turn (amortises the select per query).
const RECV_BATCH: usize = 64;

pub async fn run(
    cfg: Arc<Config>,
    d: DnsSection,
    dp: Arc<Mutex<Datapath>>,
    state: Arc<std::sync::Mutex<DnsState>>,
    esp: Option<Arc<ProxyEsp>>,
) -> anyhow::Result<()> {
    let mut pool = SubstitutePool::new(v4(cfg.pool.v4), v6(cfg.pool.v6)).context("[pool] for DNS")?;
    if esp.is_some() {
        forget_hip_mappings(&dp, &cfg).await?;
    }
    // Substitutes already mapped (static mappings, or DNS mappings the
    // pinned maps kept across a restart) must never be handed out again
    // for another host. Kept ones stay until deleted with the CLI.
    let existing = dp.lock().await.mappings()?;
    let reserved = existing.iter().filter(|(sub, _)| pool.reserve(*sub)).count();
    if reserved > 0 {
        info!(reserved, "substitutes in use by existing mappings are not handed out");
    }
    let random: dns::RandomSource = Box::new(|buf: &mut [u8]| {
        // RFC 5452: upstream IDs must be unpredictable; a failing system RNG
        // is not something to answer queries without.
        aws_lc_rs::rand::fill(buf).expect("system random source");
    });
    let mut core = Interceptor::new(core_config(&d)?, pool, random);
    let sockets = ClientSockets::bind(&d).await?;
    // Queries from TCP clients, and where to write each client's answers.
    let (tcp_query_tx, mut tcp_query_rx) = mpsc::channel::<(SocketAddr, Vec<u8>)>(256);
    let mut tcp_answer: std::collections::HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = Default::default();
    let any: SocketAddr = if d.upstream.is_ipv4() { "0.0.0.0:0".parse()? } else { "[::]:0".parse()? };
    let upstream = UdpSocket::bind(any).await?;
    grow_rcvbuf(&upstream);
    upstream.connect(d.upstream).await?;
    info!(listen = %d.listen, listen_v6 = ?d.listen_v6, upstream = %d.upstream, static_hosts = d.hosts.len(),
        intercept = d.intercept, "DNS resolver ready");
    // Answers to queries retried over TCP come back through this channel.
    let (tcp_tx, mut tcp_rx) = mpsc::channel::<Vec<u8>>(64);
    let mut cbuf = vec![0u8; 65535];
    let mut cbuf6 = vec![0u8; 65535];
    let mut ubuf = vec![0u8; 65535];
    let mut counters = state.lock().unwrap_or_else(|e| e.into_inner()).counters;
    // Flow counts pin substitutes; expired ones are freed on this tick.
    let mut refresh = tokio::time::interval(Duration::from_secs(cfg.nat.gc_interval_secs));
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let far = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
    let sleep = tokio::time::sleep_until(far);
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    loop {
        let deadline = core.poll_timeout();
        if deadline != armed {
            armed = deadline;
            sleep.as_mut().reset(deadline.map_or(far, tokio::time::Instant::from_std));
        }
        tokio::select! {
            r = sockets.udp.recv_from(&mut cbuf) => {
                client_datagrams(&mut core, &mut counters, &sockets.udp, r, &mut cbuf);
            }
            r = recv_opt(&sockets.udp6, &mut cbuf6) => {
                if let Some(s) = &sockets.udp6 {
                    client_datagrams(&mut core, &mut counters, s, r, &mut cbuf6);
                }
            }
            r = upstream.recv(&mut ubuf) => {
                let mut r = r;
                for i in 1..=RECV_BATCH {
                    match r {
                        Ok(n) => {
                            if let Err(e) = core.handle_upstream_response(Instant::now(), &ubuf[..n]) {
                                counters.upstream_answers_dropped += 1;
                                debug!("upstream answer dropped: {e}");
                            }
                        }
                        // An ICMP error (upstream down) on the connected
                        // socket: the queries time out into SERVFAIL.
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => debug!(upstream = %d.upstream, "upstream: {e}"),
                    }
                    // Read the next one only if it will be handled.
                    if i == RECV_BATCH {
                        break;
                    }
                    r = upstream.try_recv(&mut ubuf);
                }
            }
            r = sockets.tcp.accept() => tcp_accept(r, &tcp_query_tx, &mut tcp_answer),
            r = accept_opt(&sockets.tcp6) => tcp_accept(r, &tcp_query_tx, &mut tcp_answer),
            Some((from, msg)) = tcp_query_rx.recv() => {
                counters.queries_tcp += 1;
                if let Err(e) = core.handle_client_query(Instant::now(), from, Transport::Tcp, &msg) {
                    counters.queries_malformed += 1;
                    debug!(%from, "DNS query over TCP dropped: {e}");
                }
            }
            Some(msg) = tcp_rx.recv() => {
                if let Err(e) = core.handle_upstream_response(Instant::now(), &msg) {
                    counters.upstream_answers_dropped += 1;
                    debug!("upstream TCP answer dropped: {e}");
                }
            }
            _ = &mut sleep => {
                // An elapsed Sleep stays ready: park it until re-armed.
                sleep.as_mut().reset(far);
                armed = None;
                core.handle_timeout(Instant::now());
            }
            _ = refresh.tick() => {
                refresh_mappings(&dp, &mut core, &state, &mut counters, esp.as_deref()).await;
            }
        }
        while let Some(t) = core.poll_transmit() {
            match t {
                Transmit::Upstream { transport: Transport::Udp, bytes, .. } => {
                    if let Err(e) = upstream.send(&bytes).await {
                        counters.upstream_send_errors += 1;
                        debug!(upstream = %d.upstream, "upstream send: {e}");
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
                    if let Err(e) = sockets.udp_for(client).send_to(&bytes, client).await {
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
        let mut new = Vec::new();
        {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            while let Some(ev) = core.poll_event() {
                match ev {
                    Event::Mapping(m) => {
                        counters.answered_substitute += 1;
                        // Only a substitute new to us needs the datapath; a
                        // repeated query only extends the expiry.
                        if !st.mappings.contains_key(&m.substitute) {
                            new.push(m.clone());
                        }
                        st.mapped(&m);
                    }
                    Event::Failed { name, reason } => {
                        counters.servfail(&reason);
                        warn!(%name, "SERVFAIL: {reason}");
                    }
                    Event::Refused { name } => {
                        counters.refused += 1;
                        info!(%name, "refused: no HIP RR");
                    }
                    Event::Passed { .. } => counters.passed += 1,
                    Event::Refreshed { substitute, expiry } => {
                        counters.answered_substitute += 1;
                        counters.answered_substitute_cached += 1;
                        if let Some(m) = st.mappings.get_mut(&substitute) {
                            m.expiry = m.expiry.max(expiry);
                        }
                    }
                }
            }
            st.counters = counters;
        }
        for m in new {
            if install(&dp, &m, esp.as_deref()).await {
                counters.mappings_installed += 1;
            }
        }
    }
}

/// A datagram from a legacy host, and up to [`RECV_BATCH`] more already
/// queued on the same socket.
fn client_datagrams(
    core: &mut Interceptor,
    counters: &mut DnsCounters,
    socket: &UdpSocket,
    first: std::io::Result<(usize, SocketAddr)>,
    buf: &mut [u8],
) {
    let mut r = first;
    for i in 1..=RECV_BATCH {
        match r {
            Ok((n, from)) => {
                counters.queries_udp += 1;
                if let Err(e) = core.handle_client_query(Instant::now(), from, Transport::Udp, &buf[..n]) {
                    counters.queries_malformed += 1;
                    debug!(%from, "DNS query dropped: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) => debug!("DNS client socket: {e}"),
        }
        // Read the next one only if it will be handled.
        if i == RECV_BATCH {
            return;
        }
        r = socket.try_recv_from(buf);
    }
}

fn tcp_accept(
    r: std::io::Result<(TcpStream, SocketAddr)>,
    queries: &mpsc::Sender<(SocketAddr, Vec<u8>)>,
    answers: &mut std::collections::HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
) {
    let (stream, from) = match r {
        Ok(c) => c,
        Err(e) => {
            // E.g. EMFILE: the listener stays; the client retries.
            warn!("DNS TCP accept: {e}");
            return;
        }
    };
    let (answer_tx, answer_rx) = mpsc::channel::<Vec<u8>>(16);
    answers.retain(|_, tx| !tx.is_closed());
    answers.insert(from, answer_tx);
    tokio::spawn(tcp_client(stream, from, queries.clone(), answer_rx));
}

/// Tell the pool how many NAT flows use each DNS substitute (a mapping
/// with live flows is never freed), then free the expired ones and their
/// datapath mappings.
async fn refresh_mappings(
    dp: &Arc<Mutex<Datapath>>,
    core: &mut Interceptor,
    state: &Arc<std::sync::Mutex<DnsState>>,
    counters: &mut DnsCounters,
    esp: Option<&ProxyEsp>,
) {
    let subs: Vec<IpAddr> = state.lock().unwrap_or_else(|e| e.into_inner()).mappings.keys().copied().collect();
    if subs.is_empty() {
        return;
    }
    let mut dp = dp.lock().await;
    let flows = match dp.flows() {
        Ok(f) => f,
        Err(e) => {
            warn!("reading NAT flows for the DNS mappings: {e}");
            return;
        }
    };
    let mut per_sub: std::collections::HashMap<proxy_common::Addr16, u32> = Default::default();
    for f in &flows {
        *per_sub.entry(f.key.dst).or_default() += 1;
    }
    if let Some(esp) = esp {
        for (sub, n) in esp.flows_per_substitute() {
            *per_sub.entry(crate::net::to_addr16(sub)).or_default() += n;
        }
    }
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    for sub in &subs {
        let n = per_sub.get(&crate::net::to_addr16(*sub)).copied().unwrap_or(0);
        let _ = core.pool_mut().set_flows(*sub, n);
        if let Some(m) = st.mappings.get_mut(sub) {
            m.flows = n;
        }
    }
    for freed in core.pool_mut().expire(Instant::now()) {
        st.mappings.remove(&freed.substitute);
        counters.mappings_expired += 1;
        if let Some(esp) = esp {
            esp.unmapped(freed.substitute);
        }
        match dp.mapping_del(freed.substitute) {
            Ok(_) | Err(TableError::Mapping(MappingError::NotFound(_))) => {
                info!(substitute = %freed.substitute, "substitute expired, mapping removed")
            }
            Err(e) => warn!(substitute = %freed.substitute, "removing expired mapping: {e}"),
        }
    }
    st.counters = *counters;
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
/// Whether a mapping was written.
async fn install(dp: &Arc<Mutex<Datapath>>, m: &MappingEvent, esp: Option<&ProxyEsp>) -> bool {
    if let Some(esp) = esp {
        return install_hip(dp, m, esp).await;
    }
    let peer = m.locators.iter().find_map(|l| match l {
        Locator::Address(a) if a.is_ipv4() == m.substitute.is_ipv4() => Some(*a),
        _ => None,
    });
    let Some(peer) = peer else {
        warn!(name = %m.name, substitute = %m.substitute, "no address of the substitute's family: mapping not installed");
        return false;
    };
    let mut dp = dp.lock().await;
    match dp.mapping_add(m.substitute, peer) {
        Ok(()) => {
            info!(name = %m.name, substitute = %m.substitute, %peer, "mapping from DNS installed");
            true
        }
        // The pool never hands out a mapped address (reserve above), so a
        // duplicate is our own mapping refreshed by a repeated query.
        Err(TableError::Mapping(MappingError::Duplicate(_))) => false,
        Err(e) => {
            warn!(name = %m.name, substitute = %m.substitute, "mapping not installed: {e}");
            false
        }
    }
}

/// The proxy's ESP path: the substitute stands for the HIT; XDP leaves its
/// packets to the kernel (flagged mapping), the translator maps it.
async fn install_hip(dp: &Arc<Mutex<Datapath>>, m: &MappingEvent, esp: &ProxyEsp) -> bool {
    let hit = Ipv6Addr::from(m.hit);
    let written = match dp.lock().await.mapping_add_hip(m.substitute, hit) {
        Ok(()) => true,
        Err(TableError::Mapping(MappingError::Duplicate(_))) => false,
        Err(e) => {
            warn!(name = %m.name, substitute = %m.substitute, "HIP mapping not installed: {e}");
            return false;
        }
    };
    esp.mapped(m);
    written
}

/// HIP mappings from DNS pinned by an earlier run: their translator state
/// and locators are gone with that process, so free them (static ones stay).
async fn forget_hip_mappings(dp: &Arc<Mutex<Datapath>>, cfg: &Config) -> anyhow::Result<()> {
    let mut dp = dp.lock().await;
    for (sub, m) in dp.mappings()? {
        let fixed = cfg.mappings.iter().any(|s| s.substitute == sub);
        if m.flags & proxy_common::nat::MAPPING_F_HIP != 0 && !fixed {
            dp.mapping_del(sub)?;
            info!(substitute = %sub, "HIP mapping of an earlier run removed");
        }
    }
    Ok(())
}
