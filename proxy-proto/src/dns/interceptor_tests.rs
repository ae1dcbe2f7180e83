//! Tests of the rewrite core, driven with hand-built upstream answers.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::hip_rr::{HipRdata, HipRdataError, PkAlgorithm};
use super::interceptor::*;
use super::mapping::{HostIdentity, Locator, MappingEvent, StaticHost};
use super::pool::{PoolError, SubstitutePool};
use super::record::HIP_RECORD_TYPE;

const CLIENT: &str = "192.168.1.20:5353";

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn hip_rr(last_hit_byte: u8, rvs: &[&str]) -> HipRdata {
    let mut rr = HipRdata::from_bytes(&hex::decode(super::hip_rr::tests::RFC8005_NO_RVS_HEX).unwrap()).unwrap();
    rr.hit[15] = last_hit_byte;
    rr.rendezvous_servers = rvs.iter().map(|n| name(n)).collect();
    rr
}

fn a(owner: &str, ttl: u32, addr: &str) -> Record {
    Record::from_rdata(name(owner), ttl, RData::A(A(addr.parse().unwrap())))
}

fn aaaa(owner: &str, ttl: u32, addr: &str) -> Record {
    Record::from_rdata(name(owner), ttl, RData::AAAA(AAAA(addr.parse().unwrap())))
}

fn cname(owner: &str, ttl: u32, target: &str) -> Record {
    Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
}

fn hip(owner: &str, ttl: u32, rr: &HipRdata) -> Record {
    Record::from_rdata(name(owner), ttl, rr.to_rdata().unwrap())
}

/// A fake recursive resolver: follows CNAMEs like a real one does.
struct Zone {
    records: Vec<Record>,
}

impl Zone {
    fn answer(&self, question: &Query) -> Vec<Record> {
        let mut out = Vec::new();
        let mut current = question.name().clone();
        for _ in 0..20 {
            let alias = self.records.iter().find(|r| r.name() == &current && r.record_type() == RecordType::CNAME);
            if let Some(record) = alias {
                out.push(record.clone());
                if let RData::CNAME(target) = record.data() {
                    current = target.0.clone();
                }
                continue;
            }
            out.extend(
                self.records
                    .iter()
                    .filter(|r| r.name() == &current && r.record_type() == question.query_type())
                    .cloned(),
            );
            break;
        }
        out
    }
}

fn response_for(query_bytes: &[u8], answers: Vec<Record>, code: ResponseCode) -> Vec<u8> {
    let query = Message::from_vec(query_bytes).unwrap();
    let mut response = Message::new();
    response
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(code)
        .add_queries(query.queries().iter().cloned())
        .add_answers(answers);
    response.to_vec().unwrap()
}

struct Harness {
    core: Interceptor,
    t0: Instant,
}

fn harness_with(config: Config, pool: SubstitutePool) -> Harness {
    let mut counter: u16 = 0x1000;
    let random = Box::new(move |buf: &mut [u8]| {
        counter = counter.wrapping_add(1);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = counter.to_be_bytes()[i % 2];
        }
    });
    Harness { core: Interceptor::new(config, pool, random), t0: Instant::now() }
}

fn default_pool() -> SubstitutePool {
    SubstitutePool::new(Some(("10.99.0.0".parse().unwrap(), 24)), Some(("fd99::".parse().unwrap(), 64))).unwrap()
}

fn harness(policy: NonHipPolicy) -> Harness {
    let config = Config { non_hip_policy: policy, ..Config::default() };
    harness_with(config, default_pool())
}

fn client_query(id: u16, qname: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name(qname), rtype));
    m.to_vec().unwrap()
}

impl Harness {
    fn ask(&mut self, id: u16, qname: &str, rtype: RecordType) {
        let client: SocketAddr = CLIENT.parse().unwrap();
        self.core.handle_client_query(self.t0, client, Transport::Udp, &client_query(id, qname, rtype)).unwrap();
    }

    /// Answers every upstream query from `zone` until none is left;
    /// returns the upstream queries seen and the client responses.
    fn serve(&mut self, zone: &Zone) -> (Vec<Query>, Vec<Vec<u8>>) {
        let mut asked = Vec::new();
        let mut to_client = Vec::new();
        while let Some(transmit) = self.core.poll_transmit() {
            match transmit {
                Transmit::Upstream { bytes, .. } => {
                    let query = Message::from_vec(&bytes).unwrap();
                    let question = query.queries()[0].clone();
                    let answers = zone.answer(&question);
                    asked.push(question);
                    let response = response_for(&bytes, answers, ResponseCode::NoError);
                    self.core.handle_upstream_response(self.t0, &response).unwrap();
                }
                Transmit::Client { bytes, client, .. } => {
                    assert_eq!(client, CLIENT.parse().unwrap());
                    to_client.push(bytes);
                }
            }
        }
        (asked, to_client)
    }

    fn only_response(&mut self, zone: &Zone) -> Message {
        let (_, responses) = self.serve(zone);
        assert_eq!(responses.len(), 1);
        Message::from_vec(&responses[0]).unwrap()
    }

    fn mapping(&mut self) -> MappingEvent {
        match self.core.poll_event() {
            Some(Event::Mapping(m)) => m,
            other => panic!("expected a mapping, got {other:?}"),
        }
    }

    fn failure(&mut self) -> FailReason {
        match self.core.poll_event() {
            Some(Event::Failed { reason, .. }) => reason,
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}

fn hip_zone() -> Zone {
    Zone {
        records: vec![
            a("www.example.com.", 600, "192.0.2.10"),
            aaaa("www.example.com.", 600, "2001:db8::10"),
            hip("www.example.com.", 3600, &hip_rr(0x78, &[])),
            cname("alias.example.com.", 900, "www.example.com."),
            a("other.example.com.", 600, "192.0.2.11"),
            hip("other.example.com.", 3600, &hip_rr(0x99, &[])),
            a("plain.example.com.", 120, "192.0.2.20"),
        ],
    }
}

fn answer_address(message: &Message) -> IpAddr {
    let last = message.answers().last().unwrap();
    match last.data() {
        RData::A(a) => IpAddr::V4(a.0),
        RData::AAAA(a) => IpAddr::V6(a.0),
        other => panic!("not an address: {other:?}"),
    }
}

#[test]
fn hip_host_gets_substitute_and_mapping() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(0x1234, "www.example.com.", RecordType::A);
    let (asked, responses) = h.serve(&hip_zone());
    let asked: Vec<RecordType> = asked.iter().map(Query::query_type).collect();
    assert_eq!(asked, vec![RecordType::A, RecordType::AAAA, HIP_RECORD_TYPE]);
    let response = Message::from_vec(&responses[0]).unwrap();
    assert_eq!(response.id(), 0x1234);
    assert!(response.recursion_desired());
    assert_eq!(response.message_type(), MessageType::Response);
    assert_eq!(response.response_code(), ResponseCode::NoError);
    assert_eq!(response.queries(), &[Query::query(name("www.example.com."), RecordType::A)]);
    assert_eq!(response.answers().len(), 1);
    assert_eq!(response.answers()[0].name(), &name("www.example.com."));
    // min(600, 600, 3600, configured 300)
    assert_eq!(response.answers()[0].ttl(), 300);
    assert_eq!(answer_address(&response), "10.99.0.1".parse::<IpAddr>().unwrap());

    let mapping = h.mapping();
    assert_eq!(mapping.name, name("www.example.com."));
    assert_eq!(hex::encode(mapping.hit), "200100107b1a74df365639cc39f1d578");
    assert_eq!(mapping.host_identity.algorithm, PkAlgorithm::Rsa);
    assert_eq!(mapping.host_identity.public_key.len(), 132);
    assert_eq!(
        mapping.locators,
        vec![Locator::Address("192.0.2.10".parse().unwrap()), Locator::Address("2001:db8::10".parse().unwrap()),]
    );
    assert_eq!(mapping.substitute, "10.99.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(mapping.expiry, h.t0 + Duration::from_secs(300));
    assert_eq!(h.core.pool().hit_of(mapping.substitute), Some(mapping.hit));
}

#[test]
fn aaaa_query_gets_ipv6_substitute() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(7, "www.example.com.", RecordType::AAAA);
    let response = h.only_response(&hip_zone());
    assert_eq!(answer_address(&response), "fd99::1".parse::<IpAddr>().unwrap());
    assert_eq!(response.answers()[0].record_type(), RecordType::AAAA);
}

#[test]
fn same_hit_same_substitute_on_repeat() {
    let mut h = harness(NonHipPolicy::Pass);
    let zone = hip_zone();
    h.ask(1, "www.example.com.", RecordType::A);
    let first = answer_address(&h.only_response(&zone));
    h.ask(2, "other.example.com.", RecordType::A);
    let other = answer_address(&h.only_response(&zone));
    h.ask(3, "www.example.com.", RecordType::A);
    let again = answer_address(&h.only_response(&zone));
    assert_eq!(first, again);
    assert_ne!(first, other);
    assert_eq!(other, "10.99.0.2".parse::<IpAddr>().unwrap());
}

#[test]
fn cname_chain_then_substitute() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(9, "alias.example.com.", RecordType::A);
    let response = h.only_response(&hip_zone());
    assert_eq!(response.queries()[0].name(), &name("alias.example.com."));
    let answers = response.answers();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0].name(), &name("alias.example.com."));
    assert_eq!(answers[0].data(), &RData::CNAME(CNAME(name("www.example.com."))));
    assert_eq!(answers[1].name(), &name("www.example.com."));
    assert_eq!(answer_address(&response), "10.99.0.1".parse::<IpAddr>().unwrap());
    let mapping = h.mapping();
    assert_eq!(mapping.name, name("alias.example.com."));
}

#[test]
fn no_hip_rr_passes_upstream_answer_unchanged() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(0xBEEF, "plain.example.com.", RecordType::A);
    let zone = hip_zone();
    let mut upstream_answer = None;
    let mut to_client = Vec::new();
    while let Some(t) = h.core.poll_transmit() {
        match t {
            Transmit::Upstream { bytes, .. } => {
                let q = Message::from_vec(&bytes).unwrap().queries()[0].clone();
                let response = response_for(&bytes, zone.answer(&q), ResponseCode::NoError);
                if q.query_type() == RecordType::A {
                    upstream_answer = Some(response.clone());
                }
                h.core.handle_upstream_response(h.t0, &response).unwrap();
            }
            Transmit::Client { bytes, .. } => to_client.push(bytes),
        }
    }
    let upstream_answer = upstream_answer.unwrap();
    assert_eq!(to_client.len(), 1);
    // Byte for byte the upstream answer, but for the client's ID.
    assert_eq!(to_client[0][..2], [0xBE, 0xEF]);
    assert_eq!(to_client[0][2..], upstream_answer[2..]);
    assert_eq!(answer_address(&Message::from_vec(&to_client[0]).unwrap()), "192.0.2.20".parse::<IpAddr>().unwrap());
    assert_eq!(h.core.poll_event(), Some(Event::Passed { name: name("plain.example.com.") }));
    assert_eq!(h.core.poll_event(), None);
}

#[test]
fn no_hip_rr_refused_under_refuse_policy() {
    let mut h = harness(NonHipPolicy::Refuse);
    h.ask(5, "plain.example.com.", RecordType::A);
    let response = h.only_response(&hip_zone());
    assert_eq!(response.id(), 5);
    assert_eq!(response.response_code(), ResponseCode::Refused);
    assert!(response.answers().is_empty());
    assert_eq!(h.core.poll_event(), Some(Event::Refused { name: name("plain.example.com.") }));
}

#[test]
fn rendezvous_servers_are_resolved() {
    let mut h = harness(NonHipPolicy::Pass);
    let zone = Zone {
        records: vec![
            hip("mobile.example.com.", 3600, &hip_rr(1, &["rvs.example.net.", "dead.example.net."])),
            a("rvs.example.net.", 40, "198.51.100.5"),
            aaaa("rvs.example.net.", 3600, "2001:db8:5::5"),
        ],
    };
    h.ask(11, "mobile.example.com.", RecordType::A);
    let (asked, responses) = h.serve(&zone);
    // A, AAAA, HIP, then A and AAAA of both rendezvous servers.
    assert_eq!(asked.len(), 7);
    assert!(asked.contains(&Query::query(name("rvs.example.net."), RecordType::AAAA)));
    let response = Message::from_vec(&responses[0]).unwrap();
    // The rendezvous server's A TTL (40) bounds the answer.
    assert_eq!(response.answers()[0].ttl(), 40);
    let mapping = h.mapping();
    assert_eq!(
        mapping.locators,
        vec![Locator::RendezvousServer {
            name: name("rvs.example.net."),
            addresses: vec!["198.51.100.5".parse().unwrap(), "2001:db8:5::5".parse().unwrap()],
        }]
    );
}

#[test]
fn hip_host_without_locator_fails() {
    let mut h = harness(NonHipPolicy::Pass);
    let zone = Zone { records: vec![hip("lost.example.com.", 60, &hip_rr(2, &[]))] };
    h.ask(12, "lost.example.com.", RecordType::A);
    let response = h.only_response(&zone);
    assert_eq!(response.response_code(), ResponseCode::ServFail);
    assert_eq!(h.failure(), FailReason::NoLocator);
}

#[test]
fn upstream_timeout_gives_servfail() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(13, "www.example.com.", RecordType::A);
    let mut sent = Vec::new();
    while let Some(Transmit::Upstream { id, .. }) = h.core.poll_transmit() {
        sent.push(id);
    }
    assert_eq!(sent.len(), 3);
    // Each UDP query is sent once more, under the same ID.
    let retransmit = h.t0 + Config::default().upstream_retransmit.unwrap();
    assert_eq!(h.core.poll_timeout(), Some(retransmit));
    h.core.handle_timeout(retransmit);
    let mut again = Vec::new();
    while let Some(Transmit::Upstream { id, .. }) = h.core.poll_transmit() {
        again.push(id);
    }
    sent.sort_unstable();
    assert_eq!(again, sent);
    let deadline = h.t0 + Config::default().upstream_timeout;
    assert_eq!(h.core.poll_timeout(), Some(deadline));
    h.core.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(h.core.poll_transmit(), None);
    h.core.handle_timeout(deadline);
    let Some(Transmit::Client { bytes, .. }) = h.core.poll_transmit() else {
        panic!("no client response");
    };
    let response = Message::from_vec(&bytes).unwrap();
    assert_eq!(response.id(), 13);
    assert_eq!(response.response_code(), ResponseCode::ServFail);
    assert_eq!(h.failure(), FailReason::UpstreamTimeout);
    assert_eq!(h.core.poll_timeout(), None);
}

/// Answers the pending upstream queries: type 55 with `hip_bytes`, the
/// others from `zone`. Returns the client responses.
fn serve_with_hip_bytes(h: &mut Harness, zone: &Zone, hip_bytes: impl Fn(&[u8]) -> Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(t) = h.core.poll_transmit() {
        match t {
            Transmit::Upstream { bytes, .. } => {
                let q = Message::from_vec(&bytes).unwrap().queries()[0].clone();
                let response = if q.query_type() == HIP_RECORD_TYPE {
                    hip_bytes(&bytes)
                } else {
                    response_for(&bytes, zone.answer(&q), ResponseCode::NoError)
                };
                let _ = h.core.handle_upstream_response(h.t0, &response);
            }
            Transmit::Client { bytes, .. } => out.push(bytes),
        }
    }
    out
}

#[test]
fn malformed_upstream_gives_servfail() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(14, "www.example.com.", RecordType::A);
    let responses = serve_with_hip_bytes(&mut h, &hip_zone(), |query| {
        // The right ID, then garbage.
        let mut b = query[..2].to_vec();
        b.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 9]);
        b
    });
    assert_eq!(responses.len(), 1);
    let response = Message::from_vec(&responses[0]).unwrap();
    assert_eq!(response.response_code(), ResponseCode::ServFail);
    assert!(response.answers().is_empty());
    assert_eq!(h.failure(), FailReason::MalformedUpstream);
}

#[test]
fn malformed_hip_rdata_gives_servfail() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(15, "www.example.com.", RecordType::A);
    let responses = serve_with_hip_bytes(&mut h, &hip_zone(), |query| {
        let bad = Record::from_rdata(
            name("www.example.com."),
            60,
            RData::Unknown { code: HIP_RECORD_TYPE, rdata: hickory_proto::rr::rdata::NULL::with(vec![16, 2, 0]) },
        );
        response_for(query, vec![bad], ResponseCode::NoError)
    });
    let response = Message::from_vec(&responses[0]).unwrap();
    assert_eq!(response.response_code(), ResponseCode::ServFail);
    assert_eq!(h.failure(), FailReason::MalformedHip(HipRdataError::Truncated));
}

#[test]
fn upstream_servfail_gives_servfail() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(16, "www.example.com.", RecordType::A);
    let responses =
        serve_with_hip_bytes(&mut h, &hip_zone(), |query| response_for(query, vec![], ResponseCode::ServFail));
    assert_eq!(responses.len(), 1);
    assert_eq!(Message::from_vec(&responses[0]).unwrap().response_code(), ResponseCode::ServFail);
    assert_eq!(h.failure(), FailReason::UpstreamRcode(2));
}

#[test]
fn pool_exhausted_gives_servfail_and_expiry_frees() {
    let pool = SubstitutePool::new(Some(("10.99.0.5".parse().unwrap(), 32)), None).unwrap();
    let mut h = harness_with(Config::default(), pool);
    let zone = hip_zone();
    h.ask(1, "www.example.com.", RecordType::A);
    let first = h.only_response(&zone);
    assert_eq!(answer_address(&first), "10.99.0.5".parse::<IpAddr>().unwrap());
    let mapping = h.mapping();

    h.ask(2, "other.example.com.", RecordType::A);
    let refused = h.only_response(&zone);
    assert_eq!(refused.response_code(), ResponseCode::ServFail);
    assert!(refused.answers().is_empty());
    assert_eq!(h.failure(), FailReason::Pool(PoolError::Exhausted(super::pool::Family::V4)));

    // The mapping lives min(TTL 300, ...) = 300 s.
    let freed = h.core.pool_mut().expire(mapping.expiry);
    assert_eq!(freed.len(), 1);
    assert_eq!(freed[0].hit, mapping.hit);
    h.t0 = mapping.expiry;
    h.ask(3, "other.example.com.", RecordType::A);
    let second = h.only_response(&zone);
    assert_eq!(answer_address(&second), "10.99.0.5".parse::<IpAddr>().unwrap());
    assert_ne!(h.mapping().hit, mapping.hit);
}

#[test]
fn ttl_is_min_of_upstream_and_configured_max() {
    let mut h = harness(NonHipPolicy::Pass);
    let zone = Zone {
        records: vec![
            cname("short.example.com.", 10, "host.example.com."),
            a("host.example.com.", 600, "192.0.2.30"),
            hip("host.example.com.", 3600, &hip_rr(3, &[])),
            a("zero.example.com.", 0, "192.0.2.31"),
            hip("zero.example.com.", 3600, &hip_rr(4, &[])),
        ],
    };
    h.ask(1, "short.example.com.", RecordType::A);
    let response = h.only_response(&zone);
    assert_eq!(response.answers()[0].ttl(), 10);
    assert_eq!(response.answers()[1].ttl(), 10);
    // TTL 0 is answered as 0, but the mapping lives the minimum lifetime.
    h.ask(2, "zero.example.com.", RecordType::A);
    let response = h.only_response(&zone);
    assert_eq!(response.answers()[0].ttl(), 0);
    h.mapping();
    let mapping = h.mapping();
    assert_eq!(mapping.expiry, h.t0 + Config::default().min_mapping_lifetime);
}

#[test]
fn hip_query_itself_is_passed_through() {
    let mut h = harness(NonHipPolicy::Refuse);
    h.ask(0x5555, "www.example.com.", HIP_RECORD_TYPE);
    let (asked, responses) = h.serve(&hip_zone());
    assert_eq!(asked, vec![Query::query(name("www.example.com."), HIP_RECORD_TYPE)]);
    let response = Message::from_vec(&responses[0]).unwrap();
    assert_eq!(response.id(), 0x5555);
    assert_eq!(HipRdata::from_record(&response.answers()[0]).unwrap(), hip_rr(0x78, &[]));
    assert_eq!(h.core.poll_event(), Some(Event::Passed { name: name("www.example.com.") }));
    assert_eq!(h.core.poll_event(), None);
}

#[test]
fn static_host_answers_without_upstream() {
    let host = StaticHost {
        hit: hip_rr(0x42, &[]).hit128().unwrap(),
        host_identity: HostIdentity { algorithm: PkAlgorithm::Rsa, public_key: vec![3, 1, 0, 1, 0xAA] },
        locators: vec![Locator::Address("203.0.113.7".parse().unwrap())],
        ttl: 3600,
    };
    let config = Config { static_hosts: HashMap::from([(name("static.example."), host.clone())]), ..Config::default() };
    let mut h = harness_with(config, default_pool());
    // Names match case-insensitively.
    h.ask(21, "Static.Example.", RecordType::A);
    let (asked, responses) = h.serve(&Zone { records: vec![] });
    assert!(asked.is_empty());
    let response = Message::from_vec(&responses[0]).unwrap();
    assert_eq!(response.id(), 21);
    assert_eq!(response.answers()[0].ttl(), 300);
    assert_eq!(answer_address(&response), "10.99.0.1".parse::<IpAddr>().unwrap());
    let mapping = h.mapping();
    assert_eq!(mapping.hit, host.hit);
    assert_eq!(mapping.locators, host.locators);
}

#[test]
fn family_without_pool_gets_nodata_not_the_real_address() {
    let pool = SubstitutePool::new(Some(("10.99.0.0".parse().unwrap(), 24)), None).unwrap();
    let mut h = harness_with(Config::default(), pool);
    h.ask(22, "www.example.com.", RecordType::AAAA);
    let response = h.only_response(&hip_zone());
    assert_eq!(response.response_code(), ResponseCode::NoError);
    assert!(response.answers().is_empty());
    assert_eq!(h.core.poll_event(), None);
}

#[test]
fn malformed_client_query_gets_formerr() {
    let mut h = harness(NonHipPolicy::Pass);
    let client: SocketAddr = CLIENT.parse().unwrap();
    assert_eq!(
        h.core.handle_client_query(h.t0, client, Transport::Tcp, &[0xAB, 0xCD, 0x01]),
        Err(ClientQueryError::Malformed)
    );
    let Some(Transmit::Client { bytes, transport, .. }) = h.core.poll_transmit() else {
        panic!("no FORMERR");
    };
    assert_eq!(transport, Transport::Tcp);
    let response = Message::from_vec(&bytes).unwrap();
    assert_eq!(response.id(), 0xABCD);
    assert_eq!(response.response_code(), ResponseCode::FormErr);
    assert_eq!(h.core.handle_client_query(h.t0, client, Transport::Udp, &[]), Err(ClientQueryError::Malformed));
    assert_eq!(h.core.poll_transmit(), None);
}

#[test]
fn spoofed_and_unknown_upstream_answers_are_dropped() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(23, "www.example.com.", RecordType::A);
    let Some(Transmit::Upstream { bytes, id, .. }) = h.core.poll_transmit() else {
        panic!("no upstream query");
    };
    // Right ID, wrong question.
    let mut spoof = Message::from_vec(&client_query(id, "evil.example.", RecordType::A)).unwrap();
    spoof.set_message_type(MessageType::Response);
    assert_eq!(
        h.core.handle_upstream_response(h.t0, &spoof.to_vec().unwrap()),
        Err(UpstreamResponseError::QuestionMismatch)
    );
    let mut unknown = response_for(&bytes, vec![], ResponseCode::NoError);
    unknown[..2].copy_from_slice(&id.wrapping_add(1000).to_be_bytes());
    assert_eq!(h.core.handle_upstream_response(h.t0, &unknown), Err(UpstreamResponseError::UnknownId));
    // The real answer is still accepted.
    let real = response_for(&bytes, vec![a("www.example.com.", 60, "192.0.2.10")], ResponseCode::NoError);
    assert_eq!(h.core.handle_upstream_response(h.t0, &real), Ok(()));
}

#[test]
fn truncated_upstream_answer_is_retried_over_tcp() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(24, "www.example.com.", HIP_RECORD_TYPE);
    let Some(Transmit::Upstream { bytes, transport, .. }) = h.core.poll_transmit() else {
        panic!("no upstream query");
    };
    assert_eq!(transport, Transport::Udp);
    let mut tc = Message::from_vec(&response_for(&bytes, vec![], ResponseCode::NoError)).unwrap();
    tc.set_truncated(true);
    h.core.handle_upstream_response(h.t0, &tc.to_vec().unwrap()).unwrap();
    let Some(Transmit::Upstream { transport, bytes: retry, .. }) = h.core.poll_transmit() else {
        panic!("no retry");
    };
    assert_eq!(transport, Transport::Tcp);
    assert_eq!(retry[2..], bytes[2..]);
    // The answer over TCP completes the query.
    let full = response_for(
        &retry,
        hip_zone().answer(&Query::query(name("www.example.com."), HIP_RECORD_TYPE)),
        ResponseCode::NoError,
    );
    h.core.handle_upstream_response(h.t0, &full).unwrap();
    let Some(Transmit::Client { bytes, .. }) = h.core.poll_transmit() else {
        panic!("no client response");
    };
    let response = Message::from_vec(&bytes).unwrap();
    assert_eq!(response.id(), 24);
    assert_eq!(response.answers().len(), 1);
    assert_eq!(h.core.poll_timeout(), None);
}

#[test]
fn truncated_answer_for_resolving_query_still_completes() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(25, "www.example.com.", RecordType::A);
    let zone = hip_zone();
    let mut to_client = Vec::new();
    let mut truncated_once = false;
    while let Some(t) = h.core.poll_transmit() {
        match t {
            Transmit::Upstream { bytes, transport, .. } => {
                let q = Message::from_vec(&bytes).unwrap().queries()[0].clone();
                let mut response =
                    Message::from_vec(&response_for(&bytes, zone.answer(&q), ResponseCode::NoError)).unwrap();
                if q.query_type() == HIP_RECORD_TYPE && transport == Transport::Udp {
                    response.take_answers();
                    response.set_truncated(true);
                    truncated_once = true;
                }
                h.core.handle_upstream_response(h.t0, &response.to_vec().unwrap()).unwrap();
            }
            Transmit::Client { bytes, .. } => to_client.push(bytes),
        }
    }
    assert!(truncated_once);
    assert_eq!(to_client.len(), 1);
    let response = Message::from_vec(&to_client[0]).unwrap();
    assert_eq!(answer_address(&response), "10.99.0.1".parse::<IpAddr>().unwrap());
}

#[test]
fn failing_rendezvous_server_is_skipped_not_fatal() {
    let mut h = harness(NonHipPolicy::Pass);
    let zone = Zone {
        records: vec![
            a("mobile.example.com.", 60, "192.0.2.40"),
            hip("mobile.example.com.", 60, &hip_rr(1, &["dead.example.net.", "rvs.example.net."])),
            a("rvs.example.net.", 60, "198.51.100.5"),
        ],
    };
    h.ask(26, "mobile.example.com.", RecordType::A);
    let mut to_client = Vec::new();
    while let Some(t) = h.core.poll_transmit() {
        match t {
            Transmit::Upstream { bytes, .. } => {
                let q = Message::from_vec(&bytes).unwrap().queries()[0].clone();
                let code =
                    if q.name() == &name("dead.example.net.") { ResponseCode::ServFail } else { ResponseCode::NoError };
                let response = response_for(&bytes, zone.answer(&q), code);
                h.core.handle_upstream_response(h.t0, &response).unwrap();
            }
            Transmit::Client { bytes, .. } => to_client.push(bytes),
        }
    }
    assert_eq!(to_client.len(), 1);
    let response = Message::from_vec(&to_client[0]).unwrap();
    assert_eq!(response.response_code(), ResponseCode::NoError);
    assert_eq!(
        h.mapping().locators,
        vec![
            Locator::Address("192.0.2.40".parse().unwrap()),
            Locator::RendezvousServer {
                name: name("rvs.example.net."),
                addresses: vec!["198.51.100.5".parse().unwrap()],
            }
        ]
    );
}

#[test]
fn hip_rr_at_another_chain_end_gives_servfail() {
    let mut h = harness(NonHipPolicy::Pass);
    h.ask(27, "www.example.com.", RecordType::A);
    // The HIP answer claims www is an alias of other, whose HIP RR it
    // carries; the A answer says www has its own address.
    let responses = serve_with_hip_bytes(&mut h, &hip_zone(), |query| {
        response_for(
            query,
            vec![
                cname("www.example.com.", 60, "other.example.com."),
                hip("other.example.com.", 60, &hip_rr(0x99, &[])),
            ],
            ResponseCode::NoError,
        )
    });
    let response = Message::from_vec(&responses[0]).unwrap();
    assert_eq!(response.response_code(), ResponseCode::ServFail);
    assert!(response.answers().is_empty());
    assert_eq!(h.failure(), FailReason::InconsistentChain);
}

fn cached_harness() -> Harness {
    harness_with(Config { cache_size: 16, ..Config::default() }, default_pool())
}

impl Harness {
    fn ask_at(&mut self, now: Instant, id: u16, qname: &str, rtype: RecordType) {
        let client: SocketAddr = CLIENT.parse().unwrap();
        self.core.handle_client_query(now, client, Transport::Udp, &client_query(id, qname, rtype)).unwrap();
    }
}

#[test]
fn cached_substitute_answer_needs_no_upstream_and_its_ttl_runs_down() {
    let mut h = cached_harness();
    let zone = hip_zone();
    h.ask(1, "www.example.com.", RecordType::A);
    let first = h.only_response(&zone);
    let mapping = h.mapping();
    h.ask_at(h.t0 + Duration::from_secs(100), 2, "WWW.example.com.", RecordType::A);
    let (asked, responses) = h.serve(&zone);
    assert!(asked.is_empty(), "answered from the cache: {asked:?}");
    let again = Message::from_vec(&responses[0]).unwrap();
    assert_eq!(again.id(), 2);
    assert_eq!(answer_address(&again), answer_address(&first));
    assert_eq!(again.answers()[0].ttl(), 300 - 100, "the TTL left, not the original");
    // The mapping now lives at least as long as the answer just given.
    match h.core.poll_event() {
        Some(Event::Refreshed { substitute, expiry }) => {
            assert_eq!(substitute, mapping.substitute);
            assert!(expiry >= h.t0 + Duration::from_secs(300));
        }
        other => panic!("expected Refreshed, got {other:?}"),
    }
    // Once the TTL is up, upstream is asked again.
    h.ask_at(h.t0 + Duration::from_secs(300), 3, "www.example.com.", RecordType::A);
    assert!(matches!(h.core.poll_transmit(), Some(Transmit::Upstream { .. })));
}

#[test]
fn freed_substitute_is_never_answered_from_the_cache() {
    let mut h = cached_harness();
    let zone = hip_zone();
    h.ask(1, "www.example.com.", RecordType::A);
    let first = answer_address(&h.only_response(&zone));
    let freed = h.core.pool_mut().expire(h.t0 + Duration::from_secs(3600));
    assert_eq!(freed.len(), 1);
    // Another HIT takes the freed address.
    h.ask(2, "other.example.com.", RecordType::A);
    assert_eq!(answer_address(&h.only_response(&zone)), first);
    h.ask_at(h.t0 + Duration::from_secs(1), 3, "www.example.com.", RecordType::A);
    let (asked, responses) = h.serve(&zone);
    assert_eq!(asked.len(), 3, "resolved afresh");
    assert_ne!(answer_address(&Message::from_vec(&responses[0]).unwrap()), first);
}

#[test]
fn passed_answers_are_cached_too() {
    let mut h = cached_harness();
    let zone = hip_zone();
    h.ask(1, "plain.example.com.", RecordType::A);
    assert_eq!(h.serve(&zone).0.len(), 3);
    h.ask_at(h.t0 + Duration::from_secs(20), 2, "plain.example.com.", RecordType::A);
    let (asked, responses) = h.serve(&zone);
    assert!(asked.is_empty());
    let m = Message::from_vec(&responses[0]).unwrap();
    assert_eq!(answer_address(&m), "192.0.2.20".parse::<IpAddr>().unwrap());
    assert_eq!(m.answers()[0].ttl(), 100);
}
