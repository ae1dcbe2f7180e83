//! The DNS rewrite core, sans-IO (quinn-proto style): client queries and
//! upstream responses in, upstream queries, client responses and mapping
//! events out; time is passed in.
//!
//! For an A/AAAA query the proxy asks upstream, in parallel, the client's
//! own query (forwarded as is, so a pass-through answer is exactly what
//! upstream said), the other address family (locators) and the HIP RR
//! (type 55, RFC 8005). When the HIP RR is present it also resolves the
//! rendezvous servers it names (A and AAAA) and answers with the CNAME
//! chain followed by a substitute address. Any doubt ends in SERVFAIL,
//! never in a wrong address: a real address handed out for a HIP host
//! would bypass HIP.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::cache::{AnswerCache, Origin};
use super::hip_rr::{HipRdata, HipRdataError};
use super::mapping::{HostIdentity, Locator, MappingEvent, StaticHost};
use super::pool::{Family, Hit, PoolError, SubstitutePool};
use super::record::HIP_RECORD_TYPE;

/// Longest CNAME chain followed; also ends loops.
const MAX_CHAIN: usize = 16;
/// Rendezvous servers resolved per HIP RR; later ones are ignored (the
/// list is in order of preference, RFC 8005 §5).
const MAX_RENDEZVOUS_SERVERS: usize = 4;
/// Upstream queries in flight at most: a quarter of the 16-bit ID space,
/// so a fresh random ID is found in a few draws.
const MAX_PENDING: usize = 16384;
/// EDNS payload size of our own queries (DNS flag day 2020 value), so a
/// HIP RR with an RSA key fits in UDP.
const EDNS_PAYLOAD: u16 = 1232;

/// How a query or response travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Datagrams.
    Udp,
    /// A stream with length-prefixed messages (see [`super::tcp`]).
    Tcp,
}

/// What to answer for an A/AAAA name without HIP RR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonHipPolicy {
    /// Relay the upstream answer unchanged (but for the message ID).
    Pass,
    /// Answer REFUSED: the legacy host may only reach HIP hosts.
    Refuse,
}

/// Configuration of the [`Interceptor`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Names without HIP RR.
    pub non_hip_policy: NonHipPolicy,
    /// Upper bound of the substitute answer's TTL, seconds.
    pub max_ttl: u32,
    /// Shortest life of a mapping in the pool, whatever the TTL: a TTL of
    /// 0 must not free the substitute before the client connects.
    pub min_mapping_lifetime: Duration,
    /// Time an upstream query may take.
    pub upstream_timeout: Duration,
    /// Send a UDP query once more after this long without answer (UDP
    /// loses datagrams; RFC 1035 §4.2.1 leaves retransmission to the
    /// resolver). `None`: never.
    pub upstream_retransmit: Option<Duration>,
    /// Client queries in progress at most; more get SERVFAIL.
    pub max_transactions: usize,
    /// Static host table, answered without upstream queries.
    pub static_hosts: HashMap<Name, StaticHost>,
    /// A/AAAA answers kept for their TTL, at most this many (0: none, every
    /// query goes upstream).
    pub cache_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            non_hip_policy: NonHipPolicy::Pass,
            max_ttl: 300,
            min_mapping_lifetime: Duration::from_secs(60),
            upstream_timeout: Duration::from_secs(5),
            upstream_retransmit: Some(Duration::from_millis(1500)),
            max_transactions: 1024,
            static_hosts: HashMap::new(),
            cache_size: 0,
        }
    }
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// A query to the upstream resolver; its response carries `id`.
    Upstream {
        /// DNS message ID, to match the response.
        id: u16,
        /// Transport to use (TCP after a truncated UDP answer).
        transport: Transport,
        /// The DNS message (unframed).
        bytes: Vec<u8>,
    },
    /// A response to a client.
    Client {
        /// The client that asked.
        client: SocketAddr,
        /// The transport it asked on.
        transport: Transport,
        /// The DNS message (unframed).
        bytes: Vec<u8>,
    },
}

/// Why a client got SERVFAIL (for counters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailReason {
    /// An upstream query got no answer in time.
    #[error("upstream timeout")]
    UpstreamTimeout,
    /// Upstream answered with an error code (value of the RCODE).
    #[error("upstream answered RCODE {0}")]
    UpstreamRcode(u16),
    /// An upstream answer could not be parsed.
    #[error("malformed upstream answer")]
    MalformedUpstream,
    /// The HIP RR is malformed.
    #[error("malformed HIP RR: {0}")]
    MalformedHip(HipRdataError),
    /// The HIT is not 128 bits (RFC 7401 uses ORCHIDs, RFC 7343).
    #[error("HIT of {0} bytes, not an ORCHID")]
    UnsupportedHit(usize),
    /// The CNAME chain is too long or loops.
    #[error("CNAME chain too long")]
    ChainTooLong,
    /// The address and HIP answers end their CNAME chains at different
    /// names.
    #[error("address and HIP answers disagree on the canonical name")]
    InconsistentChain,
    /// The HIP host has neither address nor reachable rendezvous server.
    #[error("HIP host without locator")]
    NoLocator,
    /// The substitute pool failed.
    #[error("substitute pool: {0}")]
    Pool(PoolError),
    /// Too many queries in progress.
    #[error("too many queries in progress")]
    Overloaded,
    /// A response could not be encoded.
    #[error("response could not be encoded")]
    Encode,
}

/// Something for the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A substitute was handed out.
    Mapping(MappingEvent),
    /// A client got SERVFAIL.
    Failed {
        /// The name asked.
        name: Name,
        /// Why.
        reason: FailReason,
    },
    /// A name without HIP RR was refused (policy Refuse).
    Refused {
        /// The name asked.
        name: Name,
    },
    /// A substitute answer was given from the cache; the pool keeps the
    /// mapping at least until `expiry`.
    Refreshed {
        /// The substitute in the answer.
        substitute: IpAddr,
        /// The mapping's expiry is now at least this.
        expiry: Instant,
    },
    /// An upstream answer was relayed unchanged (a name without HIP RR
    /// under policy Pass, or a query type that is not intercepted).
    Passed {
        /// The name asked.
        name: Name,
    },
}

/// Why a client query was not taken (for counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientQueryError {
    /// Not a DNS message; FORMERR sent when the header was readable.
    #[error("malformed client query")]
    Malformed,
    /// A response, not a query: dropped.
    #[error("client sent a response")]
    NotAQuery,
    /// An opcode other than QUERY: NOTIMP sent.
    #[error("unsupported opcode")]
    NotImplemented,
    /// Not exactly one question: FORMERR sent.
    #[error("query without exactly one question")]
    QuestionCount,
}

/// Why an upstream response was not used (for counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamResponseError {
    /// Its ID matches no outstanding query (late or spoofed).
    #[error("no outstanding query with this ID")]
    UnknownId,
    /// Its question differs from the query's (RFC 5452 §9.1): dropped.
    #[error("question does not match the query")]
    QuestionMismatch,
    /// Unparseable; the client got SERVFAIL.
    #[error("malformed upstream response")]
    Malformed,
}

/// What an upstream query is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A client query relayed as is (types other than A/AAAA).
    Forward,
    /// The client's A/AAAA query relayed as is.
    ClientType,
    /// The other address family of the name (locators).
    OtherFamily,
    /// The HIP RR of the name.
    Hip,
    /// An address family of rendezvous server `index`.
    Rendezvous { index: usize },
}

#[derive(Debug)]
struct Pending {
    tx: u64,
    purpose: Purpose,
    question: Query,
    bytes: Vec<u8>,
    transport: Transport,
    deadline: Instant,
    /// When to send a lost UDP query once more, under the same ID.
    retransmit_at: Option<Instant>,
}

/// A rendezvous server being resolved.
#[derive(Debug)]
struct RendezvousServer {
    name: Name,
    addresses: Vec<IpAddr>,
}

/// Answers gathered for an A/AAAA query.
#[derive(Debug)]
struct Resolving {
    family: Family,
    /// Raw and parsed upstream answer to the client's own query.
    client_type: Option<(Vec<u8>, Message)>,
    other_family: Option<Message>,
    hip: Option<Message>,
    /// The HIP RR found, with its TTL; set when `hip` has one.
    hip_rr: Option<FoundHip>,
    rendezvous: Vec<RendezvousServer>,
    /// Smallest TTL of the rendezvous server records used.
    rendezvous_ttl: u32,
}

#[derive(Debug)]
enum TxState {
    /// Relaying a query that is not intercepted.
    Forwarding,
    /// Gathering answers for an A/AAAA query.
    Resolving(Box<Resolving>),
}

#[derive(Debug)]
struct Transaction {
    client: SocketAddr,
    transport: Transport,
    query: Message,
    outstanding: usize,
    state: TxState,
}

/// Fills a buffer with unpredictable bytes. In the daemon: a closure over
/// `aws_lc_rs::rand::SystemRandom::fill`; in tests: fixed bytes.
pub type RandomSource = Box<dyn FnMut(&mut [u8]) + Send>;

/// The DNS rewrite core.
pub struct Interceptor {
    config: Config,
    cache: AnswerCache,
    pool: SubstitutePool,
    random: RandomSource,
    transactions: HashMap<u64, Transaction>,
    pending: HashMap<u16, Pending>,
    next_tx: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl core::fmt::Debug for Interceptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Interceptor")
            .field("transactions", &self.transactions.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

fn family_of(rtype: RecordType) -> Option<Family> {
    match rtype {
        RecordType::A => Some(Family::V4),
        RecordType::AAAA => Some(Family::V6),
        _ => None,
    }
}

fn record_type_of(family: Family) -> RecordType {
    match family {
        Family::V4 => RecordType::A,
        Family::V6 => RecordType::AAAA,
    }
}

/// Follows the CNAME chain from `name` through `answers`; returns the
/// chain's records and the name it ends at.
fn follow_chain(name: &Name, answers: &[Record]) -> Result<(Vec<Record>, Name), FailReason> {
    let mut chain = Vec::new();
    let mut current = name.clone();
    loop {
        let next = answers.iter().find_map(|r| match r.data() {
            RData::CNAME(target) if r.name() == &current => Some((r, target.0.clone())),
            _ => None,
        });
        let Some((record, target)) = next else {
            return Ok((chain, current));
        };
        if chain.len() == MAX_CHAIN {
            return Err(FailReason::ChainTooLong);
        }
        chain.push(record.clone());
        current = target;
    }
}

/// Addresses owned by `owner` in `answers`, with the smallest TTL.
fn addresses_at(owner: &Name, answers: &[Record]) -> (Vec<IpAddr>, u32) {
    let mut ttl = u32::MAX;
    let mut out = Vec::new();
    for record in answers.iter().filter(|r| r.name() == owner) {
        let address = match record.data() {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(a) => IpAddr::V6(a.0),
            _ => continue,
        };
        ttl = ttl.min(record.ttl());
        out.push(address);
    }
    (out, ttl)
}

fn chain_ttl(chain: &[Record]) -> u32 {
    chain.iter().map(Record::ttl).min().unwrap_or(u32::MAX)
}

/// Upstream RCODEs that are answers (the name exists or not); others are
/// failures.
fn rcode_is_answer(code: ResponseCode) -> bool {
    matches!(code, ResponseCode::NoError | ResponseCode::NXDomain)
}

impl Interceptor {
    /// A core with its pool and a random source for upstream message IDs
    /// (RFC 5452 §9.2: IDs must be unpredictable).
    pub fn new(config: Config, pool: SubstitutePool, random: RandomSource) -> Self {
        Self {
            cache: AnswerCache::new(config.cache_size),
            config,
            pool,
            random,
            transactions: HashMap::new(),
            pending: HashMap::new(),
            next_tx: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The substitute pool, for the daemon to pin flows and expire.
    pub fn pool_mut(&mut self) -> &mut SubstitutePool {
        &mut self.pool
    }

    /// The substitute pool.
    pub fn pool(&self) -> &SubstitutePool {
        &self.pool
    }

    /// Next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the daemon.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next run (upstream deadlines only; the
    /// pool has its own `poll_timeout`).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.retransmit_at.map_or(p.deadline, |r| r.min(p.deadline))).min()
    }

    /// Retransmits lost UDP queries and fails the queries whose upstream
    /// deadline passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut ids: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, p)| p.retransmit_at.is_some_and(|r| r <= now) && p.deadline > now)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(p) = self.pending.get_mut(&id) {
                p.retransmit_at = None;
                self.transmits.push_back(Transmit::Upstream { id, transport: p.transport, bytes: p.bytes.clone() });
            }
        }
        let mut expired: Vec<u64> = self.pending.values().filter(|p| p.deadline <= now).map(|p| p.tx).collect();
        expired.sort_unstable();
        expired.dedup();
        for tx in expired {
            self.fail(tx, FailReason::UpstreamTimeout);
        }
    }

    /// Takes a query from a legacy host.
    pub fn handle_client_query(
        &mut self,
        now: Instant,
        client: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Result<(), ClientQueryError> {
        let query = match Message::from_vec(bytes) {
            Ok(query) => query,
            Err(_) => {
                // Answer FORMERR when at least the header is readable
                // (RFC 1035 §4.1.1), so the client does not retry blindly.
                if let Some(id) = bytes.get(..2) {
                    let id = u16::from_be_bytes([id[0], id[1]]);
                    let mut response = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
                    response.set_recursion_available(true);
                    self.send_client(client, transport, &response);
                }
                return Err(ClientQueryError::Malformed);
            }
        };
        if query.message_type() != MessageType::Query {
            return Err(ClientQueryError::NotAQuery);
        }
        if query.op_code() != OpCode::Query {
            let response = self.response_to(&query, ResponseCode::NotImp);
            self.send_client(client, transport, &response);
            return Err(ClientQueryError::NotImplemented);
        }
        let Some(question) = (query.queries().len() == 1).then(|| query.queries()[0].clone()) else {
            let response = self.response_to(&query, ResponseCode::FormErr);
            self.send_client(client, transport, &response);
            return Err(ClientQueryError::QuestionCount);
        };
        // The pending cap keeps `fresh_id` from searching a full ID space.
        if self.transactions.len() >= self.config.max_transactions || self.pending.len() >= MAX_PENDING {
            let response = self.response_to(&query, ResponseCode::ServFail);
            self.send_client(client, transport, &response);
            self.events.push_back(Event::Failed { name: question.name().clone(), reason: FailReason::Overloaded });
            return Ok(());
        }
        let family = family_of(question.query_type()).filter(|_| question.query_class() == DNSClass::IN);
        let Some(family) = family else {
            // Type 55 itself and every other type: relay unchanged.
            let tx = self.new_transaction(client, transport, query, TxState::Forwarding);
            self.send_upstream(now, tx, Purpose::Forward, question, bytes.to_vec(), transport);
            return Ok(());
        };
        if let Some(host) = self.config.static_hosts.get(question.name()).cloned() {
            self.answer_static(now, client, transport, &query, &question, family, host);
            return Ok(());
        }
        if let Some(response) = self.answer_from_cache(now, &query, &question) {
            self.send_client_sized(client, transport, &query, &response);
            return Ok(());
        }
        let resolving = Resolving {
            family,
            client_type: None,
            other_family: None,
            hip: None,
            hip_rr: None,
            rendezvous: Vec::new(),
            rendezvous_ttl: u32::MAX,
        };
        let name = question.name().clone();
        let tx = self.new_transaction(client, transport, query, TxState::Resolving(Box::new(resolving)));
        self.send_upstream(now, tx, Purpose::ClientType, question, bytes.to_vec(), transport);
        let other = match family {
            Family::V4 => RecordType::AAAA,
            Family::V6 => RecordType::A,
        };
        self.send_own_query(now, tx, Purpose::OtherFamily, name.clone(), other);
        self.send_own_query(now, tx, Purpose::Hip, name, HIP_RECORD_TYPE);
        Ok(())
    }

    /// Takes a response from the upstream resolver.
    pub fn handle_upstream_response(&mut self, now: Instant, bytes: &[u8]) -> Result<(), UpstreamResponseError> {
        let id = bytes.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or(UpstreamResponseError::Malformed)?;
        if !self.pending.contains_key(&id) {
            return Err(UpstreamResponseError::UnknownId);
        }
        let message = match Message::from_vec(bytes) {
            Ok(m) if m.message_type() == MessageType::Response => m,
            _ => {
                if let Some(p) = self.pending.remove(&id) {
                    self.fail(p.tx, FailReason::MalformedUpstream);
                }
                return Err(UpstreamResponseError::Malformed);
            }
        };
        let matches =
            self.pending.get(&id).is_some_and(|p| message.queries().len() == 1 && message.queries()[0] == p.question);
        if !matches {
            return Err(UpstreamResponseError::QuestionMismatch);
        }
        let Some(pending) = self.pending.remove(&id) else {
            return Err(UpstreamResponseError::UnknownId);
        };
        if message.truncated() && pending.transport == Transport::Udp {
            // Ask again over TCP (RFC 7766 §5); the retry replaces the
            // query it repeats.
            if let Some(t) = self.transactions.get_mut(&pending.tx) {
                t.outstanding = t.outstanding.saturating_sub(1);
            }
            self.send_upstream(now, pending.tx, pending.purpose, pending.question, pending.bytes, Transport::Tcp);
            return Ok(());
        }
        let tx = pending.tx;
        let Some(transaction) = self.transactions.get_mut(&tx) else {
            return Ok(());
        };
        transaction.outstanding = transaction.outstanding.saturating_sub(1);
        if pending.purpose == Purpose::Forward {
            if let Some(transaction) = self.transactions.remove(&tx) {
                self.relay(transaction.client, transaction.transport, &transaction.query, bytes);
                self.events.push_back(Event::Passed { name: pending.question.name().clone() });
            }
            return Ok(());
        }
        let is_rendezvous = matches!(pending.purpose, Purpose::Rendezvous { .. });
        if !rcode_is_answer(message.response_code()) && !is_rendezvous {
            self.fail(tx, FailReason::UpstreamRcode(message.response_code().into()));
            return Ok(());
        }
        let question_name = pending.question.name().clone();
        let mut rendezvous_queries = Vec::new();
        if let TxState::Resolving(resolving) = &mut transaction.state {
            match pending.purpose {
                Purpose::ClientType => resolving.client_type = Some((bytes.to_vec(), message)),
                Purpose::OtherFamily => resolving.other_family = Some(message),
                Purpose::Hip => {
                    match hip_at_target(&question_name, &message) {
                        Ok(Some(found)) => {
                            for name in found.rdata.rendezvous_servers.iter().take(MAX_RENDEZVOUS_SERVERS) {
                                rendezvous_queries.push((resolving.rendezvous.len(), name.clone()));
                                resolving
                                    .rendezvous
                                    .push(RendezvousServer { name: name.clone(), addresses: Vec::new() });
                            }
                            resolving.hip_rr = Some(found);
                        }
                        Ok(None) => {}
                        Err(reason) => {
                            self.fail(tx, reason);
                            return Ok(());
                        }
                    }
                    resolving.hip = Some(message);
                }
                // A rendezvous server that does not resolve is only one
                // locator less (RFC 8005 §5 lists several for this reason).
                Purpose::Rendezvous { .. } if !rcode_is_answer(message.response_code()) => {}
                Purpose::Rendezvous { index } => match follow_chain(&question_name, message.answers()) {
                    Ok((chain, target)) => {
                        let (addresses, ttl) = addresses_at(&target, message.answers());
                        resolving.rendezvous_ttl = resolving.rendezvous_ttl.min(ttl).min(chain_ttl(&chain));
                        if let Some(server) = resolving.rendezvous.get_mut(index) {
                            server.addresses.extend(addresses);
                        }
                    }
                    Err(reason) => {
                        self.fail(tx, reason);
                        return Ok(());
                    }
                },
                Purpose::Forward => {}
            }
        }
        for (index, name) in rendezvous_queries {
            for rtype in [RecordType::A, RecordType::AAAA] {
                self.send_own_query(now, tx, Purpose::Rendezvous { index }, name.clone(), rtype);
            }
        }
        if self.transactions.get(&tx).is_some_and(|t| t.outstanding == 0) {
            self.finish(now, tx);
        }
        Ok(())
    }

    fn new_transaction(&mut self, client: SocketAddr, transport: Transport, query: Message, state: TxState) -> u64 {
        let tx = self.next_tx;
        self.next_tx += 1;
        self.transactions.insert(tx, Transaction { client, transport, query, outstanding: 0, state });
        tx
    }

    /// An upstream message ID not in use, from the random source.
    fn fresh_id(&mut self) -> u16 {
        loop {
            let mut b = [0u8; 2];
            (self.random)(&mut b);
            let id = u16::from_be_bytes(b);
            if !self.pending.contains_key(&id) {
                return id;
            }
        }
    }

    /// Sends `bytes` (a query for `question`) upstream under a fresh ID.
    fn send_upstream(
        &mut self,
        now: Instant,
        tx: u64,
        purpose: Purpose,
        question: Query,
        mut bytes: Vec<u8>,
        transport: Transport,
    ) {
        let id = self.fresh_id();
        if let Some(head) = bytes.get_mut(..2) {
            head.copy_from_slice(&id.to_be_bytes());
        }
        if let Some(t) = self.transactions.get_mut(&tx) {
            t.outstanding += 1;
        }
        self.transmits.push_back(Transmit::Upstream { id, transport, bytes: bytes.clone() });
        self.pending.insert(
            id,
            Pending {
                tx,
                purpose,
                question,
                bytes,
                transport,
                deadline: now + self.config.upstream_timeout,
                retransmit_at: match transport {
                    Transport::Udp => self.config.upstream_retransmit.map(|d| now + d),
                    Transport::Tcp => None,
                },
            },
        );
    }

    /// Builds and sends a recursive query of our own.
    fn send_own_query(&mut self, now: Instant, tx: u64, purpose: Purpose, name: Name, rtype: RecordType) {
        let question = Query::query(name, rtype);
        let mut message = Message::new();
        message
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(true)
            .add_query(question.clone());
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        message.set_edns(edns);
        match message.to_vec() {
            Ok(bytes) => self.send_upstream(now, tx, purpose, question, bytes, Transport::Udp),
            Err(_) => self.fail(tx, FailReason::Encode),
        }
    }

    /// A response header and question for `query`.
    fn response_to(&self, query: &Message, code: ResponseCode) -> Message {
        let mut response = Message::new();
        response
            .set_id(query.id())
            .set_message_type(MessageType::Response)
            .set_op_code(query.op_code())
            .set_recursion_desired(query.recursion_desired())
            .set_recursion_available(true)
            .set_response_code(code)
            .add_queries(query.queries().iter().cloned());
        if query.extensions().is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            response.set_edns(edns);
        }
        response
    }

    /// An answer from memory, unless its time is up or its substitute is
    /// no longer the pool's mapping for that HIT.
    fn answer_from_cache(&mut self, now: Instant, query: &Message, question: &Query) -> Option<Message> {
        let (name, rtype, class) = (question.name(), question.query_type(), question.query_class());
        let entry = self.cache.get(name, rtype, class)?;
        let (code, origin, remaining) = (entry.code, entry.origin, entry.remaining(now));
        let Some(answers) = entry.answers_at(now) else {
            self.cache.remove(name, rtype, class);
            return None;
        };
        match origin {
            Origin::Substitute { hit, family, substitute } => {
                // The legacy host may use the answer for its remaining TTL:
                // the mapping must live at least as long.
                let lifetime = remaining.max(self.config.min_mapping_lifetime);
                let current = (self.pool.hit_of(substitute) == Some(hit))
                    .then(|| self.pool.allocate(hit, family, now, lifetime).ok())
                    .flatten();
                if current != Some(substitute) {
                    self.cache.remove(name, rtype, class);
                    return None;
                }
                self.events.push_back(Event::Refreshed { substitute, expiry: now + lifetime });
            }
            Origin::Passed => self.events.push_back(Event::Passed { name: name.clone() }),
        }
        let mut response = self.response_to(query, code);
        response.add_answers(answers);
        Some(response)
    }

    /// Sends `response`, or an empty truncated one when it exceeds what a
    /// UDP client accepts (RFC 1035 §4.2.1).
    fn send_client_sized(&mut self, client: SocketAddr, transport: Transport, query: &Message, response: &Message) {
        let Ok(bytes) = response.to_vec() else { return };
        if transport == Transport::Udp && bytes.len() > usize::from(query.max_payload()) {
            let mut truncated = self.response_to(query, ResponseCode::NoError);
            truncated.set_truncated(true);
            self.send_client(client, transport, &truncated);
            return;
        }
        self.transmits.push_back(Transmit::Client { client, transport, bytes });
    }

    fn send_client(&mut self, client: SocketAddr, transport: Transport, response: &Message) {
        if let Ok(bytes) = response.to_vec() {
            self.transmits.push_back(Transmit::Client { client, transport, bytes });
        }
    }

    /// Relays an upstream answer with the client's message ID. An answer
    /// fetched over TCP may exceed what a UDP client accepts: it then gets
    /// an empty truncated answer and retries over TCP (RFC 1035 §4.2.1,
    /// RFC 6891 §7).
    fn relay(&mut self, client: SocketAddr, transport: Transport, query: &Message, bytes: &[u8]) {
        if transport == Transport::Udp && bytes.len() > usize::from(query.max_payload()) {
            let mut response = self.response_to(query, ResponseCode::NoError);
            response.set_truncated(true);
            self.send_client(client, transport, &response);
            return;
        }
        let mut bytes = bytes.to_vec();
        if let Some(head) = bytes.get_mut(..2) {
            head.copy_from_slice(&query.id().to_be_bytes());
        }
        self.transmits.push_back(Transmit::Client { client, transport, bytes });
    }

    /// Ends transaction `tx` with SERVFAIL.
    fn fail(&mut self, tx: u64, reason: FailReason) {
        self.pending.retain(|_, p| p.tx != tx);
        let Some(transaction) = self.transactions.remove(&tx) else {
            return;
        };
        let response = self.response_to(&transaction.query, ResponseCode::ServFail);
        self.send_client(transaction.client, transaction.transport, &response);
        let name = transaction.query.queries().first().map(|q| q.name().clone()).unwrap_or_default();
        self.events.push_back(Event::Failed { name, reason });
    }

    /// All answers are in: answer the client.
    fn finish(&mut self, now: Instant, tx: u64) {
        let Some(transaction) = self.transactions.remove(&tx) else {
            return;
        };
        let TxState::Resolving(resolving) = transaction.state else {
            return;
        };
        let Some(question) = transaction.query.queries().first().cloned() else {
            return;
        };
        let resolving = *resolving;
        let (Some((raw, client_type)), Some(other), Some(_hip)) =
            (resolving.client_type, resolving.other_family, resolving.hip)
        else {
            // Cannot happen with no query outstanding; fail safe.
            self.transactions.insert(tx, Transaction { state: TxState::Forwarding, ..transaction });
            self.fail(tx, FailReason::MalformedUpstream);
            return;
        };
        let Some(hip) = resolving.hip_rr else {
            match self.config.non_hip_policy {
                NonHipPolicy::Pass => {
                    self.relay(transaction.client, transaction.transport, &transaction.query, &raw);
                    self.events.push_back(Event::Passed { name: question.name().clone() });
                    if client_type.response_code() == ResponseCode::NoError && !client_type.truncated() {
                        self.cache.insert(
                            now,
                            question.name(),
                            question.query_type(),
                            question.query_class(),
                            ResponseCode::NoError,
                            client_type.answers().to_vec(),
                            Origin::Passed,
                        );
                    }
                }
                NonHipPolicy::Refuse => {
                    let response = self.response_to(&transaction.query, ResponseCode::Refused);
                    self.send_client(transaction.client, transaction.transport, &response);
                    self.events.push_back(Event::Refused { name: question.name().clone() });
                }
            }
            return;
        };
        let outcome = self.substitute_answer(
            now,
            &transaction.query,
            &question,
            resolving.family,
            &client_type,
            &other,
            hip,
            resolving.rendezvous,
            resolving.rendezvous_ttl,
        );
        match outcome {
            Ok((response, event)) => {
                self.send_client(transaction.client, transaction.transport, &response);
                if let Some(event) = event {
                    let origin =
                        Origin::Substitute { hit: event.hit, family: resolving.family, substitute: event.substitute };
                    self.cache.insert(
                        now,
                        question.name(),
                        question.query_type(),
                        question.query_class(),
                        ResponseCode::NoError,
                        response.answers().to_vec(),
                        origin,
                    );
                    self.events.push_back(Event::Mapping(event));
                }
            }
            Err(reason) => {
                let response = self.response_to(&transaction.query, ResponseCode::ServFail);
                self.send_client(transaction.client, transaction.transport, &response);
                self.events.push_back(Event::Failed { name: question.name().clone(), reason });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn substitute_answer(
        &mut self,
        now: Instant,
        query: &Message,
        question: &Query,
        family: Family,
        client_type: &Message,
        other: &Message,
        hip: FoundHip,
        rendezvous: Vec<RendezvousServer>,
        rendezvous_ttl: u32,
    ) -> Result<(Message, Option<MappingEvent>), FailReason> {
        let FoundHip { rdata: hip_rr, ttl: hip_ttl, owner: hip_owner } = hip;
        let hit: Hit = hip_rr.hit128().ok_or(FailReason::UnsupportedHit(hip_rr.hit.len()))?;
        let (chain, target) = follow_chain(question.name(), client_type.answers())?;
        let (_, other_target) = follow_chain(question.name(), other.answers())?;
        let (own, own_ttl) = addresses_at(&target, client_type.answers());
        let (others, others_ttl) = addresses_at(&other_target, other.answers());
        if hip_owner != target || (other_target != target && !others.is_empty()) {
            return Err(FailReason::InconsistentChain);
        }
        let mut locators: Vec<Locator> = own.into_iter().chain(others).map(Locator::Address).collect();
        locators.extend(
            rendezvous
                .into_iter()
                .filter(|s| !s.addresses.is_empty())
                .map(|s| Locator::RendezvousServer { name: s.name, addresses: s.addresses }),
        );
        if locators.is_empty() {
            return Err(FailReason::NoLocator);
        }
        let ttl = [self.config.max_ttl, chain_ttl(&chain), hip_ttl, own_ttl, others_ttl, rendezvous_ttl]
            .into_iter()
            .min()
            .unwrap_or(0);
        let host = StaticHost {
            hit,
            host_identity: HostIdentity { algorithm: hip_rr.pk_algorithm, public_key: hip_rr.public_key },
            locators,
            ttl,
        };
        self.build_answer(now, query, question, family, chain, target, host)
    }

    #[allow(clippy::too_many_arguments)]
    fn answer_static(
        &mut self,
        now: Instant,
        client: SocketAddr,
        transport: Transport,
        query: &Message,
        question: &Query,
        family: Family,
        mut host: StaticHost,
    ) {
        host.ttl = host.ttl.min(self.config.max_ttl);
        match self.build_answer(now, query, question, family, Vec::new(), question.name().clone(), host) {
            Ok((response, event)) => {
                self.send_client(client, transport, &response);
                if let Some(event) = event {
                    self.events.push_back(Event::Mapping(event));
                }
            }
            Err(reason) => {
                let response = self.response_to(query, ResponseCode::ServFail);
                self.send_client(client, transport, &response);
                self.events.push_back(Event::Failed { name: question.name().clone(), reason });
            }
        }
    }

    /// The answer: the CNAME chain, then the substitute at its end.
    #[allow(clippy::too_many_arguments)]
    fn build_answer(
        &mut self,
        now: Instant,
        query: &Message,
        question: &Query,
        family: Family,
        chain: Vec<Record>,
        target: Name,
        host: StaticHost,
    ) -> Result<(Message, Option<MappingEvent>), FailReason> {
        let mut response = self.response_to(query, ResponseCode::NoError);
        for mut record in chain {
            record.set_ttl(record.ttl().min(host.ttl));
            response.add_answer(record);
        }
        if !self.pool.has_family(family) {
            // No substitute of this family: an empty answer (NODATA), never
            // the real address.
            return Ok((response, None));
        }
        let lifetime = Duration::from_secs(host.ttl.into()).max(self.config.min_mapping_lifetime);
        let substitute = self.pool.allocate(host.hit, family, now, lifetime).map_err(FailReason::Pool)?;
        let rdata = match substitute {
            IpAddr::V4(a) => RData::A(A(a)),
            IpAddr::V6(a) => RData::AAAA(AAAA(a)),
        };
        debug_assert_eq!(rdata.record_type(), record_type_of(family));
        response.add_answer(Record::from_rdata(target, host.ttl, rdata));
        let event = MappingEvent {
            name: question.name().clone(),
            hit: host.hit,
            host_identity: host.host_identity,
            locators: host.locators,
            substitute,
            expiry: now + lifetime,
        };
        Ok((response, Some(event)))
    }
}

/// The HIP RR at the end of the CNAME chain of a type 55 answer.
/// A HIP RR found at the end of a CNAME chain.
#[derive(Debug)]
struct FoundHip {
    rdata: HipRdata,
    /// Smallest TTL of the chain and the HIP RR.
    ttl: u32,
    /// The name owning the HIP RR (the chain's end).
    owner: Name,
}

fn hip_at_target(name: &Name, message: &Message) -> Result<Option<FoundHip>, FailReason> {
    let (chain, target) = follow_chain(name, message.answers())?;
    let Some(record) = message.answers().iter().find(|r| r.name() == &target && r.record_type() == HIP_RECORD_TYPE)
    else {
        return Ok(None);
    };
    let rdata = HipRdata::from_record(record).map_err(FailReason::MalformedHip)?;
    Ok(Some(FoundHip { rdata, ttl: record.ttl().min(chain_ttl(&chain)), owner: target }))
}
