//! Control requests of the HIP role (`proxy-ctl assoc ...`).

use proxy_proto::hip::assoc::{AssocInfo, DropReason, RekeyKeying, counters::PACKET_NAMES};

use super::hip::HipHandle;
use crate::control::{AssocEntry, CounterInfo, R1Info, RegistrationEntry, Request, Response};
use proxy_proto::hip::assoc::registration::lifetime_duration;

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
        Request::AssocRekey { hit, keymat } => {
            let keying = if keymat { RekeyKeying::Keymat } else { RekeyKeying::NewDh };
            hip.rekey(hit, keying).await?;
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
            let m = &c.mobility;
            for (name, v) in [
                ("rx_update", m.updates_received),
                ("tx_update", m.updates_sent),
                ("update_retransmits", m.update_retransmits),
                ("locator_announcements", m.locator_announcements),
                ("address_checks", m.address_checks),
                ("locators_verified", m.locators_verified),
                ("address_checks_failed", m.address_checks_failed),
                ("locators_announced_ahead", m.locators_announced_ahead),
                ("switched_to_checked", m.switched_to_checked),
                ("i1_relayed", m.i1_relayed),
                ("relayed_i1_answered", m.relayed_i1_answered),
                ("r1_via_rvs", m.r1_via_rvs),
                ("registrations_granted", m.registrations_granted),
                ("registrations_refused", m.registrations_refused),
                ("registered", m.registered),
                ("registration_failures", m.registration_failures),
                ("rekeys", m.rekeys),
                ("rekeys_new_dh", m.rekeys_new_dh),
                ("rekeys_started", m.rekeys_started),
                ("rvs_recoveries", m.rvs_recoveries),
                ("credit_grants", m.credit_grants),
                ("credit_granted_bytes", m.credit_granted_bytes),
            ] {
                add(name.into(), v);
            }
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
        Request::RvsList => Response::Registrations {
            registrations: hip
                .registrations()
                .await?
                .iter()
                .map(|r| RegistrationEntry {
                    hit: r.peer_hit.to_ipv6(),
                    side: if r.registrar { "registrar" } else { "client" }.into(),
                    locator: r.locator,
                    lifetime_secs: lifetime_duration(r.lifetime).as_secs(),
                    remaining_secs: r.remaining.as_secs(),
                })
                .collect(),
        },
        other => anyhow::bail!("not a HIP request: {other:?}"),
    })
}
