#!/usr/bin/env bash
# The demo topology: what works today, shown end to end.
#
#  legacy1 10.1.0.11 ─┐
#                     ├─ switch ─ lan0 [proxy: XDP substitute-address NAT] wan0 ─ server 192.0.2.10
#  legacy2 10.1.0.12 ─┘           10.1.0.1                         192.0.2.1        2001:db8::10
#
# Legacy hosts reach the server through substitute addresses 100.64.0.10
# and fd00:64::10; both use the same source port at the same time. Then
# the proxy acts as the legacy hosts' resolver: a name with a HIP RR
# (served by a real dnsmasq upstream) resolves to a substitute address
# that the datapath maps to the HIP host; and a legacy host configured
# with another resolver address is intercepted all the same.
source "$(dirname "$0")/lib.sh"

say "building the topology"
mkns SW sw; mkns P proxy; mkns S server; mkns L1 legacy1; mkns L2 legacy2
nsx "$SW" ip link add sw type bridge; nsx "$SW" ip link set sw up
i=1
for L in "$L1" "$L2"; do
  veth "$L" eth0 "$SW" port$i; nsx "$SW" ip link set port$i master sw
  nsx "$L" ip addr add 10.1.0.1$i/24 dev eth0; nsx "$L" ip addr add fd01::1$i/64 dev eth0 nodad
  nsx "$L" ip route add default via 10.1.0.1; nsx "$L" ip -6 route add default via fd01::1
  i=$((i+1))
done
veth "$P" lan0 "$SW" uplink; nsx "$SW" ip link set uplink master sw
veth "$P" wan0 "$S" srv0
nsx "$P" ip addr add 10.1.0.1/24 dev lan0; nsx "$P" ip addr add fd01::1/64 dev lan0 nodad
nsx "$P" ip addr add 192.0.2.1/24 dev wan0; nsx "$P" ip addr add 2001:db8::1/64 dev wan0 nodad
nsx "$S" ip addr add 192.0.2.10/24 dev srv0; nsx "$S" ip addr add 2001:db8::10/64 dev srv0 nodad
nsx "$P" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
echo "namespaces: $SW $P $S $L1 $L2 (removed on exit)"

mkbpffs BPF
SOCK="$STATE/proxy.sock"
# HIP host identities: the proxy's, and the server's (a native HIP host).
"$CTL" identity new --algo p256 --out "$STATE/proxy-hi.pem" >/dev/null 2>&1
"$CTL" identity new --algo p256 --out "$STATE/server-hi.pem" >/dev/null 2>&1
SERVER_HIT=$("$CTL" --json identity show "$STATE/server-hi.pem" | sed -n 's/.*"hit": "\(.*\)".*/\1/p')
cat > "$STATE/proxy.toml" <<TOML
[datapath]
lan = "lan0"
wan = "wan0"
pin_dir = "$BPF/proxy"

[nat]
wan_v4 = "192.0.2.1"
wan_v6 = "2001:db8::1"

[pool]
v4 = "100.64.0.0/24"
v6 = "fd00:64::/96"

[control]
socket = "$SOCK"

[dns]
listen = "10.1.0.1:53"
upstream = "192.0.2.10:53"
intercept = true

[hip]
role = "proxy"
identities = ["$STATE/proxy-hi.pem"]

[[hip.peer]]
hit = "$SERVER_HIT"
locators = ["192.0.2.10", "2001:db8::10"]

[[mapping]]
substitute = "100.64.0.10"
peer = "192.0.2.10"

[[mapping]]
substitute = "fd00:64::10"
peer = "2001:db8::10"
TOML
say "starting the daemon: proxy-ctl run --config proxy.toml"
nsx "$P" "$CTL" run --config "$STATE/proxy.toml" 2> "$STATE/daemon.log" & PIDS+=($!)
wait_sock "$SOCK"
# veth drops frames XDP redirects into it unless its peer runs XDP.
nsx "$SW" "$CTL" xdp-pass uplink --pin "$BPF/pass-uplink"
nsx "$S" "$CTL" xdp-pass srv0 --pin "$BPF/pass-srv0"
C() { "$CTL" --socket "$SOCK" "$@"; }
C mapping list

say "an HTTP server on the server (192.0.2.10:8080, [2001:db8::10]:8080)"
mkdir -p "$STATE/www"; head -c 2000000 /dev/urandom > "$STATE/www/blob"
SUM=$(sha256sum < "$STATE/www/blob" | cut -c1-16)
(cd "$STATE/www" && exec ip netns exec "$S" python3 -m http.server --bind :: 8080 >/dev/null 2>&1) & PIDS+=($!)
for _ in $(seq 50); do nsx "$S" ss -ltn | grep -q :8080 && break; sleep 0.1; done

say "legacy1 and legacy2 fetch a 2 MB file via the substitute address, both from the same source port"
# (40000 for IPv4, 40001 for IPv6: a port in TIME_WAIT cannot be rebound at once.)
for v in 100.64.0.10:40000 "[fd00:64::10]:40001"; do
  port=${v##*:}; v=${v%:*}
  for L in "$L1" "$L2"; do
    got=$(nsx "$L" curl -s --local-port "$port" "http://$v:8080/blob" | sha256sum | cut -c1-16)
    echo "$L -> http://$v:8080/blob  sha256 $got $([ "$got" = "$SUM" ] && echo OK || echo MISMATCH)"
    [ "$got" = "$SUM" ]
  done
done

say "ping through the substitute addresses"
nsx "$L1" ping -c 2 -W 1 100.64.0.10 | tail -2
nsx "$L2" ping -6 -c 2 -W 1 fd00:64::10 | tail -2

say "what the server saw: only the proxy's address, distinct proxy ports"
nsx "$S" ss -tn state time-wait '( sport = :8080 )' | tail -n +2 | awk '{print "  peer", $4}' | sort | uniq | head -8

say "proxy-ctl nat list"
C nat list
say "proxy-ctl stats"
C stats

say "DNS: the proxy is the legacy hosts' resolver; upstream is dnsmasq on the server serving a HIP RR"
# RDATA of RFC 8005 §6's example HIP RR (HIT + RSA key), as encoded by
# dnspython: dns.rdata.from_text(IN, HIP, "2 2001...D578 AwEAAb...").to_wire().hex()
HIP_RR=10020084200100107b1a74df365639cc39f1d57803010001b771ca136e4aeb5ce44333c53b3d2c13c22243851fc708bcce29f7e2eb5787b5f56ccad34f8223acc10904ddb56b2ec4a6d6232f3b50ea094f0914b3b941bbe529af582c36bbadefdaf2adaf9b4911906f5b2522603c615272b880ec8fb930cc6ee39c444daa75b1678f005a4b2499d1da5433f805c7a5ad3237acc5dd5c5e43
nsx "$S" dnsmasq --keep-in-foreground --pid-file= --no-resolv --no-hosts --conf-file=/dev/null \
  --listen-address=192.0.2.10 --bind-interfaces --local=/example/ --local-ttl=60 \
  --host-record=hip-host.example,192.0.2.10 --dns-rr=hip-host.example,55,$HIP_RR \
  --host-record=plain.example,192.0.2.10 2>/dev/null & PIDS+=($!)
for _ in $(seq 50); do nsx "$S" kdig @192.0.2.10 plain.example +short +timeout=1 2>/dev/null | grep -q . && break; sleep 0.1; done
resolver "$L1" 10.1.0.1; resolver "$L2" 10.1.0.1
echo "legacy1: kdig hip-host.example A  -> $(nsx "$L1" kdig @10.1.0.1 hip-host.example A +short)   (a substitute from 100.64.0.0/24)"
echo "legacy2: kdig hip-host.example A  -> $(nsx "$L2" kdig @10.1.0.1 hip-host.example A +short)   (same HIT, same substitute)"
echo "legacy2: kdig +tcp hip-host.example -> $(nsx "$L2" kdig @10.1.0.1 hip-host.example A +short +tcp)   (over TCP)"
echo "legacy1: kdig plain.example A     -> $(nsx "$L1" kdig @10.1.0.1 plain.example A +short)   (no HIP RR: passed through)"
got=$(nsx "$L1" curl -s "http://hip-host.example:8080/blob" | sha256sum | cut -c1-16)
echo "legacy1: curl http://hip-host.example:8080/blob  sha256 $got $([ "$got" = "$SUM" ] && echo OK || echo MISMATCH)"
[ "$got" = "$SUM" ]
C mapping list

# DNS interception: a legacy host whose configured resolver is some other
# address (here the upstream's own, 192.0.2.10) is still answered by the
# proxy: the TC program on lan0 steers its queries to the proxy's resolver
# and gives the answers back the address it asked.
dns_interception() {
  say "DNS interception: legacy2's resolver is 192.0.2.10, the proxy is only its router"
  resolver "$L2" 192.0.2.10
  echo "legacy2: kdig @192.0.2.10 hip-host.example A -> $(nsx "$L2" kdig @192.0.2.10 hip-host.example A +short)   (steered: the substitute)"
  echo "legacy2: kdig @192.0.2.10 +tcp              -> $(nsx "$L2" kdig @192.0.2.10 hip-host.example A +short +tcp)   (over TCP too)"
  echo "legacy2: getent ahostsv4 hip-host.example   -> $(nsx "$L2" getent ahostsv4 hip-host.example | head -1)"
  echo "legacy2: kdig @192.0.2.10 plain.example A   -> $(nsx "$L2" kdig @192.0.2.10 plain.example A +short)   (no HIP RR: passed through)"
  C stats | grep -E "^(dns_steered|dns_answer_restored|dns_queries_udp|dns_queries_tcp|dns_answered_substitute|dns_passed|dns_servfail) "
}
dns_interception

demo_hip() {
  say "HIP: the server runs a native HIP host; the proxy (role proxy) runs a base exchange with it"
  cat > "$STATE/server.toml" <<TOML
[control]
socket = "$STATE/server.sock"
[hip]
role = "host"
identities = ["$STATE/server-hi.pem"]
TOML
  nsx "$S" "$CTL" run --config "$STATE/server.toml" 2> "$STATE/server.log" & PIDS+=($!)
  wait_sock "$STATE/server.sock"
  echo "server identity (HIP RR for its zone):"
  "$CTL" identity show "$STATE/server-hi.pem" | sed 's/^/  /'
  echo "proxy: proxy-ctl assoc connect $SERVER_HIT   (locators from [[hip.peer]])"
  C assoc connect "$SERVER_HIT"
  echo "server: proxy-ctl assoc list"
  "$CTL" --socket "$STATE/server.sock" assoc list
  echo "proxy: proxy-ctl assoc stats (non-zero counters)"
  C assoc stats | awk 'NR == 1 || $2 != "0"'
}
demo_hip

demo_hip_ed25519() {
  say "HIP with Ed25519 host identities (RFC 9374 HIT suite 5, EdDSA/cSHAKE128): two native hosts"
  local E1 E2
  mkns E1 ed1; mkns E2 ed2
  veth "$E1" eda "$E2" edb
  nsx "$E1" ip addr add fd09::1/64 dev eda nodad; nsx "$E2" ip addr add fd09::2/64 dev edb nodad
  for n in 1 2; do
    "$CTL" identity new --algo ed25519 --out "$STATE/ed$n-hi.pem" >/dev/null 2>&1
    printf '[control]\nsocket = "%s"\n[hip]\nrole = "host"\nidentities = ["%s"]\n' \
      "$STATE/ed$n.sock" "$STATE/ed$n-hi.pem" > "$STATE/ed$n.toml"
  done
  nsx "$E1" "$CTL" run --config "$STATE/ed1.toml" 2> "$STATE/ed1.log" & PIDS+=($!)
  nsx "$E2" "$CTL" run --config "$STATE/ed2.toml" 2> "$STATE/ed2.log" & PIDS+=($!)
  wait_sock "$STATE/ed1.sock"; wait_sock "$STATE/ed2.sock"
  echo "ed2 identity, with its DRIP Entity Tag under RAA 10 / HDA 20:"
  "$CTL" identity show "$STATE/ed2-hi.pem" --raa 10 --hda 20 | sed 's/^/  /'
  local hit2
  hit2=$("$CTL" --json identity show "$STATE/ed2-hi.pem" | sed -n 's/.*"hit": "\(.*\)".*/\1/p')
  echo "ed1: proxy-ctl assoc connect $hit2 --locator fd09::2"
  "$CTL" --socket "$STATE/ed1.sock" assoc connect "$hit2" --locator fd09::2
  echo "ed2: proxy-ctl assoc list"
  "$CTL" --socket "$STATE/ed2.sock" assoc list
}
demo_hip_ed25519

demo_esp() {
  say "ESP: two HIP hosts (role host, TUN + ESP); the first packet HIT to HIT starts the base exchange"
  local HA HB
  mkns HA esa; mkns HB esb
  veth "$HA" e0 "$HB" e0
  nsx "$HA" ip addr add 10.77.0.1/24 dev e0; nsx "$HB" ip addr add 10.77.0.2/24 dev e0
  local hit_a hit_b
  hit_a=$("$CTL" --json identity new --algo p256 --out "$STATE/ha.pem" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hit"])')
  hit_b=$("$CTL" --json identity new --algo p256 --out "$STATE/hb.pem" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hit"])')
  for side in a b; do
    local me peer my_hit peer_hit
    if [ $side = a ]; then me=10.77.0.1 peer=10.77.0.2 my_hit=$hit_a peer_hit=$hit_b; else me=10.77.0.2 peer=10.77.0.1 my_hit=$hit_b peer_hit=$hit_a; fi
    cat > "$STATE/h$side.toml" <<TOML
[control]
socket = "$STATE/h$side.sock"
[esp]
tun = "hip0"
tun_addrs = ["$my_hit/28"]
esp_sa_export = "$STATE/h$side.esp_sa"
[hip]
identities = ["$STATE/h$side.pem"]
locators = ["$me"]
[[hip.peer]]
hit = "$peer_hit"
locators = ["$peer"]
TOML
  done
  ip netns exec "$HA" "$CTL" run --config "$STATE/ha.toml" 2> "$STATE/ha.log" & PIDS+=($!)
  ip netns exec "$HB" "$CTL" run --config "$STATE/hb.toml" 2> "$STATE/hb.log" & PIDS+=($!)
  wait_sock "$STATE/ha.sock"; wait_sock "$STATE/hb.sock"
  head -c 4M /dev/urandom > "$STATE/esp-blob"
  local sum got
  sum=$(sha256sum < "$STATE/esp-blob" | cut -c1-16)
  ip netns exec "$HB" python3 -m http.server --bind "$hit_b" --directory "$STATE" 8080 >/dev/null 2>&1 & PIDS+=($!)
  for _ in $(seq 50); do nsx "$HB" ss -ltn | grep -q :8080 && break; sleep 0.1; done
  echo "host a: curl http://[$hit_b]:8080/esp-blob   (no association yet)"
  got=$(nsx "$HA" curl -s -g -w '%{stderr}connect %{time_connect}s\n' "http://[$hit_b]:8080/esp-blob" | sha256sum | cut -c1-16)
  echo "sha256 $got $([ "$got" = "$sum" ] && echo OK || echo MISMATCH)"
  [ "$got" = "$sum" ]
  echo "host a: proxy-ctl sa list"
  "$CTL" --socket "$STATE/ha.sock" sa list | awk 'NR <= 4 || ($2 != "0" && NF == 2)'
  echo "host a and host b: proxy-ctl assoc list   (SPI IN/OUT match sa list, crossed)"
  "$CTL" --socket "$STATE/ha.sock" assoc list
  "$CTL" --socket "$STATE/hb.sock" assoc list
  echo "Wireshark keys (esp_sa_export): $(wc -l < "$STATE/ha.esp_sa") lines in $STATE/ha.esp_sa"
}
demo_esp

demo_esp_rekey() {
  say "ESP rekey on SA aging: [esp] rekey_after_packets = 2000; an 8 MiB download rekeys by UPDATE with a new Diffie-Hellman as it goes"
  local RA RB hit_a hit_b
  mkns RA rka; mkns RB rkb
  veth "$RA" e0 "$RB" e0
  nsx "$RA" ip addr add 10.78.0.1/24 dev e0; nsx "$RB" ip addr add 10.78.0.2/24 dev e0
  hit_a=$("$CTL" --json identity new --algo p256 --out "$STATE/rka.pem" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hit"])')
  hit_b=$("$CTL" --json identity new --algo p256 --out "$STATE/rkb.pem" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hit"])')
  for side in a b; do
    local me peer my_hit peer_hit
    if [ $side = a ]; then me=10.78.0.1 peer=10.78.0.2 my_hit=$hit_a peer_hit=$hit_b; else me=10.78.0.2 peer=10.78.0.1 my_hit=$hit_b peer_hit=$hit_a; fi
    cat > "$STATE/rk$side.toml" <<TOML
[control]
socket = "$STATE/rk$side.sock"
[esp]
tun = "hip0"
tun_addrs = ["$my_hit/28"]
rekey_after_packets = 2000
[hip]
identities = ["$STATE/rk$side.pem"]
locators = ["$me"]
[[hip.peer]]
hit = "$peer_hit"
locators = ["$peer"]
TOML
  done
  ip netns exec "$RA" "$CTL" run --config "$STATE/rka.toml" 2> "$STATE/rka.log" & PIDS+=($!)
  ip netns exec "$RB" "$CTL" run --config "$STATE/rkb.toml" 2> "$STATE/rkb.log" & PIDS+=($!)
  wait_sock "$STATE/rka.sock"; wait_sock "$STATE/rkb.sock"
  mkdir -p "$STATE/rkwww"; head -c 8M /dev/urandom > "$STATE/rkwww/blob"
  ip netns exec "$RA" dumpcap -q -i e0 -f 'ip proto 139' -w "$STATE/rk.pcap" 2>/dev/null & local cap=$!
  sleep 0.5
  local sum got
  sum=$(sha256sum < "$STATE/rkwww/blob" | cut -c1-16)
  ip netns exec "$RB" python3 -m http.server --bind "$hit_b" --directory "$STATE/rkwww" 8080 >/dev/null 2>&1 & PIDS+=($!)
  for _ in $(seq 50); do nsx "$RB" ss -ltn | grep -q :8080 && break; sleep 0.1; done
  nsx "$RA" ping -6 -c 1 -W 3 "$hit_b" >/dev/null
  echo "host b: outbound SPI before: $("$CTL" --socket "$STATE/rkb.sock" --json sa list | python3 -c 'import json,sys; print([hex(s["spi"]) for s in json.load(sys.stdin)["sas"] if s["direction"] == "out"])')"
  echo "host a: curl --limit-rate 4M http://[$hit_b]:8080/blob"
  got=$(nsx "$RA" curl -s -g --limit-rate 4M "http://[$hit_b]:8080/blob" | sha256sum | cut -c1-16)
  echo "sha256 $got $([ "$got" = "$sum" ] && echo OK || echo MISMATCH)"
  [ "$got" = "$sum" ]
  echo "host b: outbound SPI after:  $("$CTL" --socket "$STATE/rkb.sock" --json sa list | python3 -c 'import json,sys; print([hex(s["spi"]) for s in json.load(sys.stdin)["sas"] if s["direction"] == "out"])')"
  sleep 0.7; kill -INT "$cap"; wait "$cap" 2>/dev/null || true
  echo "host b: proxy-ctl sa list (rekey counters)"
  "$CTL" --socket "$STATE/rkb.sock" sa list | grep -E 'rekeys_started|sa_events|drop_unknown_spi'
  echo "host b: proxy-ctl assoc stats (rekeys completed, with a new DH)"
  "$CTL" --socket "$STATE/rkb.sock" assoc stats | grep -E '^ *rekeys'
  grep -o -E 'SA aging: rekey.*|rekey: outbound SA switched.*new_dh.*' "$STATE/rkb.log" | sed 's/^/  /'
  echo "tshark: the rekey UPDATEs (ESP_INFO old -> new SPI, Keymat Index, DIFFIE_HELLMAN group)"
  tshark -n -r "$STATE/rk.pcap" -Y 'hip.packet_type == 16 and hip.tlv_esp_info_new_spi' -T fields -e ip.src \
    -e hip.tlv_esp_info_old_spi -e hip.tlv_esp_info_new_spi -e hip.tlv_esp_info_key_index -e hip.tlv.dh_group_id 2>/dev/null \
    | head -6 | sed 's/^/  /'
}
demo_esp_rekey

demo_proxy_esp() {
  say "the main loop: a legacy host curls a HIP host's name through the proxy, ESP (BEET) between proxy and host"
  # legacy 10.5.0.11 -- lan0 [proxy: dns, hip proxy, esp] wan0 192.0.2.1 == 192.0.2.10 [HIP host: role host, TUN]
  local XL XP XH XBPF
  mkns XL xleg; mkns XP xprx; mkns XH xhip
  veth "$XL" eth0 "$XP" lan0; veth "$XP" wan0 "$XH" srv0
  nsx "$XL" ip addr add 10.5.0.11/24 dev eth0; nsx "$XL" ip route add default via 10.5.0.1
  nsx "$XP" ip addr add 10.5.0.1/24 dev lan0; nsx "$XP" ip addr add 192.0.2.1/24 dev wan0
  nsx "$XH" ip addr add 192.0.2.10/24 dev srv0
  nsx "$XP" sysctl -qw net.ipv4.ip_forward=1
  local hit rdata
  "$CTL" --json identity new --algo p256 --out "$STATE/xh.pem" > "$STATE/xh.id"
  "$CTL" identity new --algo p256 --out "$STATE/xp.pem" >/dev/null
  hit=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hit"])' "$STATE/xh.id")
  rdata=$(python3 -c '
import base64, json, sys
alg, hit, pk = json.load(open(sys.argv[1]))["hip_rr"].split()
h, k = bytes.fromhex(hit), base64.b64decode(pk)
print((bytes([len(h), int(alg)]) + len(k).to_bytes(2, "big") + h + k).hex())' "$STATE/xh.id")
  nsx "$XH" dnsmasq --keep-in-foreground --pid-file= --no-resolv --no-hosts --conf-file=/dev/null --bind-interfaces \
    --listen-address=192.0.2.10 --local=/example/ --host-record=hip-host.example,192.0.2.10 \
    --dns-rr=hip-host.example,55,"$rdata" 2>/dev/null & PIDS+=($!)
  printf '[control]\nsocket = "%s"\n[hip]\nidentities = ["%s"]\n[esp]\ntun = "hip0"\ntun_addrs = ["%s/28"]\n' \
    "$STATE/xh.sock" "$STATE/xh.pem" "$hit" > "$STATE/xh.toml"
  mkdir -p "$STATE/xbpf"; mount -t bpf bpf "$STATE/xbpf"; MOUNTS+=("$STATE/xbpf")
  cat > "$STATE/xp.toml" <<TOML
[control]
socket = "$STATE/xp.sock"
[datapath]
lan = "lan0"
wan = "wan0"
pin_dir = "$STATE/xbpf/proxy"
[nat]
wan_v4 = "192.0.2.1"
[pool]
v4 = "100.64.0.0/24"
[dns]
listen = "10.5.0.1:53"
upstream = "192.0.2.10:53"
[hip]
role = "proxy"
identities = ["$STATE/xp.pem"]
[esp]
tun = "hipp0"
esp_sa_export = "$STATE/xp.esp_sa"
TOML
  nsx "$XH" "$CTL" run --config "$STATE/xh.toml" 2> "$STATE/xh.log" & PIDS+=($!)
  nsx "$XP" "$CTL" run --config "$STATE/xp.toml" 2> "$STATE/xp.log" & PIDS+=($!)
  wait_sock "$STATE/xh.sock"; wait_sock "$STATE/xp.sock"
  mkdir -p "$STATE/xwww"; head -c 4M /dev/urandom > "$STATE/xwww/blob"
  local sum got
  sum=$(sha256sum < "$STATE/xwww/blob" | cut -c1-16)
  ip netns exec "$XH" python3 -m http.server --bind "$hit" --directory "$STATE/xwww" 8080 >/dev/null 2>&1 & PIDS+=($!)
  for _ in $(seq 50); do nsx "$XH" ss -ltn | grep -q :8080 && break; sleep 0.1; done
  for _ in $(seq 50); do nsx "$XH" kdig @192.0.2.10 hip-host.example HIP +short +timeout=1 2>/dev/null | grep -q . && break; sleep 0.1; done
  resolver "$XL" 10.5.0.1
  echo "HIP host: HIT $hit, HTTP server on [$hit]:8080 (its TUN), no address of the LAN's family"
  echo "legacy: kdig hip-host.example A -> $(nsx "$XL" kdig @10.5.0.1 hip-host.example A +short)   (a substitute)"
  echo "legacy: curl http://hip-host.example:8080/blob   (no association yet: the SYN starts the base exchange)"
  got=$(nsx "$XL" curl -s -w '%{stderr}  connect %{time_connect}s (base exchange included)\n' \
    "http://hip-host.example:8080/blob" | sha256sum | cut -c1-16)
  echo "sha256 $got $([ "$got" = "$sum" ] && echo OK || echo MISMATCH)"
  [ "$got" = "$sum" ]
  X() { "$CTL" --socket "$STATE/xp.sock" "$@"; }
  echo "proxy: proxy-ctl sa list   (one SA pair with the HIP host, keyed by the base exchange)"
  X sa list | awk 'NR <= 4 || ($2 != "0" && NF == 2)'
  echo "proxy: proxy-ctl esp flows   (legacy host -> substitute -> HIT, port-NATed)"
  X esp flows | awk 'NF != 2 || $2 != "0"'
  echo "proxy: proxy-ctl mapping list   (the substitute stands for the HIT: XDP passes it to the ESP path)"
  X mapping list
}
demo_proxy_esp
demo_proxy_afxdp() {
  say "the proxy's AF_XDP fast path: once the SA pair is in, XDP steers the flow to the ESP workers (AF_XDP)"
  local xl="hpxleg$TAG" got
  echo "legacy: curl http://hip-host.example:8080/blob again   (the association is up: the workers carry it)"
  got=$(nsx "$xl" curl -s "http://hip-host.example:8080/blob" | sha256sum | cut -c1-16)
  echo "sha256 $got $([ "$got" = "$(sha256sum < "$STATE/xwww/blob" | cut -c1-16)" ] && echo OK || echo MISMATCH)"
  echo "proxy: proxy-ctl stats   (packets steered by XDP, carried by the AF_XDP workers)"
  "$CTL" --socket "$STATE/xp.sock" stats | grep -E "^(xsk_|afxdp_)" | awk '$2 != "0"'
}
demo_proxy_afxdp

say "daemon restart keeps mappings and flows (pinned maps)"
# PIDS[0] is the subshell of `nsx ... &`; the daemon is its child.
pkill -TERM -P "${PIDS[0]}" 2>/dev/null || true; kill "${PIDS[0]}" 2>/dev/null || true; wait "${PIDS[0]}" 2>/dev/null || true
for _ in $(seq 50); do [ -S "$SOCK" ] || break; sleep 0.1; done
nsx "$P" "$CTL" run --config "$STATE/proxy.toml" 2>> "$STATE/daemon.log" & PIDS+=($!)
sleep 0.2; wait_sock "$SOCK"; sleep 0.3
C mapping list
got=$(nsx "$L1" curl -s "http://100.64.0.10:8080/blob" | sha256sum | cut -c1-16)
echo "after restart: legacy1 fetch sha256 $got $([ "$got" = "$SUM" ] && echo OK || echo MISMATCH)"
[ "$got" = "$SUM" ]
demo_vpn() {
  say "mobile VPN: CN -> HA (IP-in-IP) -> GW (ESP tunnel) -> MN; the MN moves from net A to net B"
  source "$ROOT/scripts/vpn-topo.sh"
  vpn_topo
  local D="$STATE/vpn"; mkdir -p "$D"
  # GW and MN receive the tunnel's ESP on AF_XDP ([esp] host_datapath).
  VPN_DATAPATH=af_xdp vpn_configs "$D" true 1000 3
  vpn_start "$D"
  V() { "$CTL" --socket "$D/$1.sock" "${@:2}"; }
  sleep 0.5
  say "MN <-> GW SAs from a HIP base exchange (MN Initiator toward the GW's HIT; the GW admits the MN's HIT)"
  V gw assoc list
  V mn vpn bundles; echo "(the association's SPIs)"
  V ha vpn bindings
  nsx "$CN" ping -c2 -i0.3 -q 10.2.0.5 | tail -2
  say "MN: address on eth_a removed, 203.0.113.23 added on eth_b (rtnetlink -> SAs moved -> Registration through the tunnel)"
  # A ping every 2 ms from the CN across the move: what the HA still sends
  # to the address the MN left is held by the GW and follows the SA move.
  nsx "$CN" ping -i 0.002 -c 400 -q 10.2.0.5 > "$D/ping-move.txt" &
  local pp=$!
  sleep 0.3
  vpn_move "$MN" eth_a eth_b 203.0.113.23 203.0.113.1
  wait "$pp" || true
  tail -2 "$D/ping-move.txt"; echo "(pings every 2 ms across the move)"
  V ha vpn bindings
  V gw vpn bundles; echo "(same SPIs as before the move: no re-keying)"
  V gw sa list; echo "(the GW's SAs in the ESP engine's table, moved to the new care-of address; ESP received on AF_XDP: xsk_rx; held_moving: held for the address left)"
  V mn vpn history
  nsx "$CN" ping -c2 -i0.3 -q 10.2.0.5 | tail -2
}

demo_vpn_reestablish() {
  say "mobile VPN fallback: the HA stops answering, the MN moves back to net A, retries, then re-establishes with a new base exchange"
  local D="$STATE/vpn"
  V() { "$CTL" --socket "$D/$1.sock" "${@:2}"; }
  nsx "$HA" nft add table ip demo
  nsx "$HA" nft add chain ip demo in '{ type filter hook input priority 0; }'
  nsx "$HA" nft add rule ip demo in udp dport 434 drop
  vpn_move "$MN" eth_b eth_a 198.51.100.23 198.51.100.1
  local i
  for i in $(seq 40); do   # the Registration Request's back-off, then the base exchange
    V mn --json vpn stats | python3 -c 'import json, sys
c = {x["name"]: x["value"] for x in json.load(sys.stdin)["counters"]}
sys.exit(0 if c["reestablishments"] else 1)' && break
    sleep 0.5
  done
  nsx "$HA" nft delete table ip demo
  sleep 1
  V gw assoc list
  V gw vpn bundles; echo "(new SPIs, generation 1)"
  V mn vpn history
  nsx "$CN" ping -c2 -i0.3 -q 10.2.0.5 | tail -2
}
demo_vpn_rekey() {
  say "mobile VPN rekey: the MN rekeys its association with the GW by HIP UPDATE (new DH): new SPIs on both ends, the care-of address kept"
  local D="$STATE/vpn"
  V() { "$CTL" --socket "$D/$1.sock" "${@:2}"; }
  local gw_hit
  gw_hit=$(V mn --json assoc list | python3 -c 'import json, sys; print(json.load(sys.stdin)["assocs"][0]["peer_hit"])')
  V mn vpn bundles; echo "(before)"
  V mn assoc rekey "$gw_hit"
  sleep 1
  V mn vpn bundles; echo "(new SPIs, REKEYS 1)"
  V gw vpn bundles
  nsx "$CN" ping -c2 -i0.3 -q 10.2.0.5 | tail -2
  sleep 5   # the replaced inbound SAs retire once the peer's ESP shows on the new ones (5 s at most)
  V gw sa list; echo "(only the new pair left)"
  V gw vpn stats | grep -E "rekeys" || true
}
demo_vpn
demo_vpn_rekey
demo_vpn_reestablish

demo_rvs_mobility() {
  say "rendezvous + mobility (issue 6): I knows H only by its RVS V; H registers, I1 relayed, R1 direct; H moves"
  source "$ROOT/scripts/rvs-topo.sh"
  rvs_topo
  local D="$STATE/rvs"; mkdir -p "$D"
  rvs_ids "$D"
  rvs_configs "$D" update
  rvs_start "$D" v h i
  R() { "$CTL" --socket "$D/$1.sock" "${@:2}"; }
  sleep 0.5
  R v rvs list; echo "(V: H registered, its current locator)"
  nsx "$I" ping -6 -c 2 -i 0.3 -q "$HIT_H" | tail -2
  R i assoc list; echo "(I: peer locator 10.61.3.2, H's real address, though I only knew V's 10.61.2.2)"
  R v assoc stats | grep -E 'i1_relayed'
  say "H moves from network A (10.61.3.2) to B (10.61.4.2): new address first (checked ahead by I), then the old goes: UPDATE, SAs moved (same SPIs)"
  rvs_move_to b
  sleep 0.3
  nsx "$I" ping -6 -c 2 -i 0.3 -q "$HIT_H" | tail -2
  R i assoc list
  R i sa list
  R i assoc stats | grep -E 'locators_verified|address_checks|switched_to_checked'
  R h assoc stats | grep -E 'locator_announcements|locators_announced_ahead'
  R v rvs list; echo "(V follows too: relayed I1s reach H at its new address)"
}
demo_rvs_mobility

say "demo complete"
