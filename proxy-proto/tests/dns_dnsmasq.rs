//! The DNS rewrite core against answers captured from a real dnsmasq
//! (tests/data/dns/dnsmasq/README.md says how): the proxy's upstream
//! queries are answered with the captured bytes, ID rewritten.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use proxy_proto::dns::{
    Config, Event, HIP_RECORD_TYPE, Interceptor, Locator, NonHipPolicy, PkAlgorithm, SubstitutePool, Transmit,
    Transport,
};

fn captured() -> HashMap<(String, RecordType), &'static [u8]> {
    HashMap::from([
        (("hip.example.".into(), RecordType::A), &include_bytes!("data/dns/dnsmasq/hip_example_a.bin")[..]),
        (("hip.example.".into(), RecordType::AAAA), &include_bytes!("data/dns/dnsmasq/hip_example_aaaa.bin")[..]),
        (("hip.example.".into(), HIP_RECORD_TYPE), &include_bytes!("data/dns/dnsmasq/hip_example_type55.bin")[..]),
        (("rvs.example.com.".into(), RecordType::A), &include_bytes!("data/dns/dnsmasq/rvs_example_com_a.bin")[..]),
        (
            ("rvs.example.com.".into(), RecordType::AAAA),
            &include_bytes!("data/dns/dnsmasq/rvs_example_com_aaaa.bin")[..],
        ),
        (("plain.example.".into(), RecordType::A), &include_bytes!("data/dns/dnsmasq/plain_example_a.bin")[..]),
        (("plain.example.".into(), RecordType::AAAA), &include_bytes!("data/dns/dnsmasq/plain_example_aaaa.bin")[..]),
        (("plain.example.".into(), HIP_RECORD_TYPE), &include_bytes!("data/dns/dnsmasq/plain_example_type55.bin")[..]),
    ])
}

fn core() -> Interceptor {
    let pool = SubstitutePool::new(Some(("100.64.7.0".parse().unwrap(), 24)), Some(("fd00:7::".parse().unwrap(), 64)))
        .unwrap();
    let mut n = 0u8;
    Interceptor::new(
        Config { non_hip_policy: NonHipPolicy::Pass, ..Config::default() },
        pool,
        Box::new(move |b: &mut [u8]| {
            n = n.wrapping_add(1);
            b.fill(n);
        }),
    )
}

fn query(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

/// Plays dnsmasq for every upstream query; returns the client responses.
fn run(core: &mut Interceptor, now: Instant) -> Vec<Vec<u8>> {
    let answers = captured();
    let mut out = Vec::new();
    while let Some(transmit) = core.poll_transmit() {
        match transmit {
            Transmit::Upstream { id, bytes, .. } => {
                let q = Message::from_vec(&bytes).unwrap().queries()[0].clone();
                let key = (q.name().to_ascii(), q.query_type());
                let mut answer = answers.get(&key).unwrap_or_else(|| panic!("no capture for {key:?}")).to_vec();
                answer[..2].copy_from_slice(&id.to_be_bytes());
                core.handle_upstream_response(now, &answer).unwrap();
            }
            Transmit::Client { bytes, .. } => out.push(bytes),
        }
    }
    out
}

#[test]
fn hip_host_from_dnsmasq_gets_substitute_and_all_locators() {
    let mut core = core();
    let now = Instant::now();
    let client: SocketAddr = "10.1.1.1:40000".parse().unwrap();
    core.handle_client_query(now, client, Transport::Udp, &query(0x0102, "hip.example.", RecordType::A)).unwrap();
    let responses = run(&mut core, now);
    assert_eq!(responses.len(), 1);
    let response = Message::from_vec(&responses[0]).unwrap();
    assert_eq!(response.id(), 0x0102);
    assert_eq!(response.response_code(), ResponseCode::NoError);
    assert_eq!(response.answers().len(), 1);
    assert_eq!(response.answers()[0].ttl(), 60);
    assert_eq!(response.answers()[0].data(), &RData::A(hickory_proto::rr::rdata::A::new(100, 64, 7, 1)));
    let Some(Event::Mapping(mapping)) = core.poll_event() else {
        panic!("no mapping");
    };
    assert_eq!(hex_hit(&mapping.hit), "200100107b1a74df365639cc39f1d578");
    assert_eq!(mapping.host_identity.algorithm, PkAlgorithm::Rsa);
    assert_eq!(
        mapping.locators,
        vec![
            Locator::Address("10.0.0.9".parse().unwrap()),
            Locator::Address("2001:db8::9".parse().unwrap()),
            Locator::RendezvousServer {
                name: Name::from_ascii("rvs.example.com.").unwrap(),
                addresses: vec!["10.0.0.77".parse::<IpAddr>().unwrap()],
            },
        ]
    );
    // The pool mapping lives max(TTL, minimum lifetime).
    assert_eq!(mapping.expiry, now + Duration::from_secs(60));
    assert_eq!(core.pool().hit_of(mapping.substitute), Some(mapping.hit));
}

#[test]
fn name_without_hip_rr_from_dnsmasq_passes_through() {
    let mut core = core();
    let now = Instant::now();
    let client: SocketAddr = "10.1.1.1:40001".parse().unwrap();
    core.handle_client_query(now, client, Transport::Udp, &query(0x7777, "plain.example.", RecordType::A)).unwrap();
    let responses = run(&mut core, now);
    assert_eq!(responses.len(), 1);
    // The client's ID happens to be the capture's: the bytes are dnsmasq's.
    assert_eq!(responses[0], include_bytes!("data/dns/dnsmasq/plain_example_a.bin").to_vec());
    // No mapping: the only event is the pass-through (counted by the daemon).
    assert_eq!(core.poll_event(), Some(Event::Passed { name: Name::from_ascii("plain.example.").unwrap() }));
    assert_eq!(core.poll_event(), None);
}

fn hex_hit(hit: &[u8; 16]) -> String {
    hit.iter().map(|b| format!("{b:02x}")).collect()
}
