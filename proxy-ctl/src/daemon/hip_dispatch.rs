//! Control requests of the HIP role (`proxy-ctl assoc ...`).

use proxy_proto::hip::assoc::{AssocInfo, DropReason, counters::PACKET_NAMES};

use super::hip::HipHandle;
use crate::control::{AssocEntry, CounterInfo, R1Info, Request, Response};

fn transform_name(t: proxy_proto::esp::Transform) -> &'static str {
    use proxy_proto::esp::Transform::*;
    match t {
        NullHmacSha256 => "null-hmac-sha256",
        Aes128CbcHmacSha256 => "aes128cbc-hmac-sha256",
        Aes256CbcHmacSha256 => "aes256cbc-hmac-sha256",
        Aes128Gcm16 => "aes128gcm16",
        Aes256Gcm16 => "aes256gcm16",
    }
}

pub fn entry(a: &AssocInfo) -> AssocEntry {
    AssocEntry {
        local_hit: a.local_hit.to_ipv6(),
        peer_hit: a.peer_hit.to_ipv6(),
        local_locator: a.local_locator,
        peer_locator: a.peer_locator,
        state: a.state.name().into(),
        initiator: a.initiator,
        spi_in: a.inbound_spi,
        spi_out: a.outbound_spi,
        esp_transform: a.transform.and_then(|t| t.suite_id()),
        esp_transform_name: a.transform.map(|t| transform_name(t).into()),
        age_secs: a.age.as_secs(),
        state_secs: a.in_state.as_secs(),
    }
}

pub async fn handle(hip: anyhow::Result<&HipHandle>, req: Request) -> anyhow::Result<Response> {
    let hip = hip?;
    Ok(match req {
        Request::AssocConnect { hit, locators } => {
            Response::Assoc { assoc: entry(&hip.initiate(hit, locators).await?) }
        }
        Request::AssocClose { hit } => {
            hip.close(hit).await?;
            Response::Ok
        }
        Request::AssocList => Response::Assocs { assocs: hip.list().await?.iter().map(entry).collect() },
        Request::HipStats => {
            let s = hip.stats().await?;
            let c = &s.core;
            let mut counters = Vec::new();
            let mut add = |name: String, value: u64| counters.push(CounterInfo { name, value });
            for (i, n) in PACKET_NAMES.iter().enumerate() {
                add(format!("rx_{n}"), c.received[i]);
                add(format!("tx_{n}"), c.sent[i]);
            }
            add("established".into(), c.established);
            add("failed".into(), c.failed);
            add("retransmits".into(), c.retransmits);
            add("r1_generations".into(), c.r1_generations);
            add("send_errors".into(), s.send_errors);
            add("recv_errors".into(), s.recv_errors);
            for r in DropReason::ALL {
                add(format!("drop_{}", r.name()), c.dropped(r));
            }
            Response::HipStats {
                local_hits: s.local_hits.iter().map(|h| h.to_ipv6()).collect(),
                r1: s
                    .r1
                    .iter()
                    .map(|(h, counter, k)| R1Info { hit: h.to_ipv6(), r1_counter: *counter, puzzle_k: *k })
                    .collect(),
                counters,
            }
        }
        other => anyhow::bail!("not a HIP request: {other:?}"),
    })
}
