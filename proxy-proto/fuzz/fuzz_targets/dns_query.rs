//! The DNS rewrite core fed arbitrary bytes as a client query and as the
//! upstream answers: it must never panic, and every client response it
//! emits must carry the client's ID, also when answered from the cache.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use proxy_proto::dns::{Config, Interceptor, NonHipPolicy, SubstitutePool, Transmit, Transport};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // First chunk: the client query; the others: upstream answers, each
    // given the ID of the next pending upstream query so they get parsed.
    let mut chunks = rest.split(|&b| b == 0xFF && selector & 1 == 1);
    let query = chunks.next().unwrap_or_default();
    let config = Config {
        non_hip_policy: if selector & 2 == 0 {
            NonHipPolicy::Pass
        } else {
            NonHipPolicy::Refuse
        },
        cache_size: if selector & 4 == 0 { 0 } else { 8 },
        ..Config::default()
    };
    let pool = SubstitutePool::new(
        Some(("10.99.0.0".parse().unwrap(), 30)),
        Some(("fd99::".parse().unwrap(), 126)),
    )
    .unwrap();
    let mut counter = 0u16;
    let mut core = Interceptor::new(
        config,
        pool,
        Box::new(move |b: &mut [u8]| {
            counter = counter.wrapping_add(1);
            for (i, x) in b.iter_mut().enumerate() {
                *x = counter.to_be_bytes()[i % 2];
            }
        }),
    );
    let t0 = Instant::now();
    let client: SocketAddr = "192.0.2.1:53".parse().unwrap();
    let client_id = query.get(..2).map(|b| [b[0], b[1]]);
    let _ = core.handle_client_query(t0, client, Transport::Udp, query);
    let mut answers = chunks;
    for _ in 0..64 {
        let Some(transmit) = core.poll_transmit() else {
            break;
        };
        match transmit {
            Transmit::Upstream { id, .. } => {
                if let Some(answer) = answers.next() {
                    let mut answer = answer.to_vec();
                    if let Some(head) = answer.get_mut(..2) {
                        head.copy_from_slice(&id.to_be_bytes());
                    }
                    let _ = core.handle_upstream_response(t0, &answer);
                }
            }
            Transmit::Client { bytes, .. } => {
                assert_eq!(Some([bytes[0], bytes[1]]), client_id);
            }
        }
    }
    // The same query again: from the cache when the answer was kept.
    let _ = core.handle_client_query(t0 + Duration::from_secs(1), client, Transport::Udp, query);
    while let Some(transmit) = core.poll_transmit() {
        if let Transmit::Client { bytes, .. } = transmit {
            assert_eq!(Some([bytes[0], bytes[1]]), client_id);
        }
    }
    core.handle_timeout(t0 + Duration::from_secs(60));
    while let Some(transmit) = core.poll_transmit() {
        if let Transmit::Client { bytes, .. } = transmit {
            assert_eq!(Some([bytes[0], bytes[1]]), client_id);
        }
    }
    while core.poll_event().is_some() {}
});
