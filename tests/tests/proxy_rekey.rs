//! Issues 5/6: the proxy role's SAs toward a HIP host age too. With `[esp]
//! rekey_after_packets` low, a legacy host's download through the proxy's
//! AF_XDP workers makes the proxy rekey its association by UPDATE with a
//! new Diffie-Hellman several times; the workers (and the TUN path, for
//! an SPI until the workers' next steering sync) follow each switch, and
//! the body arrives intact. Topology: tests/proxyesp.rs.

use integration_tests::wait_until;

use crate::proxyesp::{connect_secs, env_engine, udp_round_trips};

#[test]
fn proxy_rekey_after_packets_through_the_afxdp_workers() {
    // The proxy sends only the legacy host's ACKs, 150-700 ESP packets in
    // an 8 MiB download (GRO on the LAN side coalesces).
    const LIMIT: u64 = 30;
    let e = env_engine("af_xdp", "", |_| format!("rekey_after_packets = {LIMIT}\n"));
    let stats = |name: &str| e.proxy.counter(name);
    assert!(stats("afxdp_workers") >= 1, "workers running");
    let sub = e.resolve(0, "A");
    let (_http, sum) = e.http_server(8);
    let _echo = e.udp_echo();
    let secs = connect_secs(&e.legacy[0], &sub, 8080);
    assert!(secs < 0.9, "connect took {secs:.3} s");
    assert!(
        wait_until(3, || {
            udp_round_trips(&e.legacy[0].name, 40100, &sub, 1);
            stats("xsk_steered_esp") > 0 && stats("xsk_steered_lan") > 0
        }),
        "flows to the substitute never steered to the workers"
    );
    let spi0 = e.proxy_sa("out")["spi"].as_u64().unwrap();
    let before_lan = stats("afxdp_lan_tx_bytes");
    let got = e.legacy[0].sh(&format!("curl -sf --max-time 60 http://{sub}:8080/blob | sha256sum"));
    assert_eq!(got.split_whitespace().next().unwrap(), sum, "body across the rekeys");
    let delivered = stats("afxdp_lan_tx_bytes") - before_lan;
    let esp = |p: &integration_tests::Proxy, name: &str| p.counter_of("sa list", name);
    let hip = |p: &integration_tests::Proxy, name: &str| p.counter_of("assoc stats", name);
    let started = esp(&e.proxy, "rekeys_started");
    let (rp, rh) = (hip(&e.proxy, "rekeys"), hip(&e.host, "rekeys"));
    eprintln!(
        "proxy rekeys: started {started}, completed proxy {rp} host {rh}; {delivered} bytes to the LAN by the workers"
    );
    // An SA change wakes the workers' steering sync at once, so a rekey's
    // new inbound SPI goes to the workers, not to the TUN path, and they
    // carry (nearly) the whole body. (With a 100 ms tick only, they had
    // carried 0.6-4 of the 8 MiB.)
    assert!(delivered >= 7 << 20, "the workers carried only {delivered} bytes of the 8 MiB body");
    assert!(started >= 2, "the proxy's SAs never aged into a rekey ({started})");
    assert!(wait_until(5, || hip(&e.proxy, "rekeys") == hip(&e.host, "rekeys")), "the two ends disagree");
    let crossed = hip(&e.proxy, "drop_rekey_collision") + hip(&e.host, "drop_rekey_collision");
    assert_eq!(hip(&e.proxy, "rekeys") + crossed, started, "a started rekey did not complete");
    assert_eq!(hip(&e.proxy, "rekeys_new_dh"), hip(&e.proxy, "rekeys"), "rekeys without a new DH");
    for p in [&e.proxy, &e.host] {
        assert_eq!(esp(p, "drop_unknown_spi"), 0, "ESP on an SA the peer lacked");
    }
    // After the retirement window: one pair, not the first, on both ends,
    // and traffic goes on through the workers on it.
    assert!(
        wait_until(8, || e.proxy.ctl_json("sa list")["sas"].as_array().unwrap().len() == 2),
        "{}",
        e.proxy.ctl_json("sa list")
    );
    assert_ne!(e.proxy_sa("out")["spi"].as_u64().unwrap(), spi0);
    assert_eq!(udp_round_trips(&e.legacy[0].name, 40000, &sub, 20), 20, "UDP after the rekeys");
    // These datagrams may age the SA again: the workers take the newest
    // inbound SPI at their next sync all the same.
    let steered = stats("xsk_steered_esp");
    assert!(
        wait_until(3, || {
            udp_round_trips(&e.legacy[0].name, 40001, &sub, 1);
            stats("xsk_steered_esp") > steered
        }),
        "the new inbound SPI is not steered to the workers"
    );
}
