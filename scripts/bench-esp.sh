#!/usr/bin/env bash
# bench esp: the proxy <-> HIP host ESP path, side by side in one run on
# the same namespace topology:
#
#   [L] legacy 10.1.0.11 ── lan0 [P] proxy wan0 192.0.2.1 ═══ 192.0.2.10 [H] HIP host
#
#  ours:      L resolves hip-host.example at the proxy's DNS role, gets a
#             substitute; the proxy port-NATs onto HIT -> HIT and seals BEET
#             ESP (AES-128-GCM, keyed by a HIP base exchange); H is our
#             `host` role daemon, the servers listen on its HIT (TUN).
#             The proxy's established flows run on its AF_XDP workers
#             (`[esp] datapath = "af_xdp"`); the same with the TUN engine
#             alone (`"tun"`) is an extra line.
#  boringtun: userspace WireGuard (boringtun-cli --threads 1, MTU 1420)
#             between P and H; L's traffic routed through it
#  plain:     no tunnel, kernel forwarding L -> P -> H (the ceiling)
#
# Plus, as an extra line: ours host <-> host (two host daemons, static SAs,
# HIT to HIT), the figure this benchmark reported before the proxy path.
#
# Figures: TCP throughput (iperf3, one stream, ~1400-byte packets: MSS from
# the path MTU / the proxy's clamp) and UDP packets/s with 64-byte datagrams
# offered by a sendmmsg blaster (cargo xtask blast, 16 flows), counted on
# H's receiving interface. All namespaces share the machine's CPUs: the
# figure is what the box moves.
#
# The HIP host (and both host<->host daemons) receive ESP on AF_XDP
# sockets (`[esp] host_datapath = "af_xdp"`); BENCH_HOST_DATAPATH=raw
# gives the raw-socket receiver, for A/B runs.
#
# BENCH_CASES (default "hosthost tun ours boringtun plain") picks the cases
# to run, for profiling one path; the summary line needs ours, boringtun
# and plain. PERF_RECORD=DIR records `perf record -a -g` for 3 s in the
# middle of each TCP case into DIR/CASE.data.
source "$(dirname "$0")/lib.sh"
SECS=${BENCH_SECS:-5}
CASES=" ${BENCH_CASES:-hosthost tun ours boringtun plain} "
HOST_DP=${BENCH_HOST_DATAPATH:-af_xdp}
want() { [[ "$CASES" == *" $1 "* ]]; }
XTASK=$ROOT/target/release/xtask
[ -x "$XTASK" ] || cargo build --release -p xtask
BT=${BORINGTUN:-$(command -v boringtun-cli || echo "$HOME/.cargo/bin/boringtun-cli")}
if want boringtun; then
  [ -x "$BT" ] || { echo "boringtun-cli not found: cargo install boringtun-cli" >&2; exit 1; }
  command -v wg >/dev/null || { echo "wg not found: apt-get install --no-install-recommends wireguard-tools" >&2; exit 1; }
fi

topo() { # $1 = tag; sets A B
  mkns A "ea$1"; mkns B "eb$1"
  veth "$A" e0 "$B" e0
  nsx "$A" ip addr add 10.9.0.1/24 dev e0; nsx "$B" ip addr add 10.9.0.2/24 dev e0
  nsx "$A" ip addr add fd09::1/64 dev e0 nodad; nsx "$B" ip addr add fd09::2/64 dev e0 nodad
  nsx "$A" ping -c1 -W1 10.9.0.2 >/dev/null
}

tcp() { # $1 = dst -> Mbit/s received
  tcp_ns "$A" "$B" "$1"
}

tcp_ns() { # client_ns server_ns dst [server_bind] -> Mbit/s received
  nsx "$2" iperf3 -s -1 -D -B "${4:-$3}" >/dev/null; sleep 0.3
  if [ -n "${PERF_RECORD:-}" ]; then
    mkdir -p "$PERF_RECORD"
    (sleep 1; perf record -a -g -q -o "$PERF_RECORD/$CASE.data" -- sleep 3 >/dev/null 2>&1) &
    (sleep 2; nsx "$1" ss -tin dst "$3" > "$PERF_RECORD/$CASE.ss" 2>&1) &
  fi
  nsx "$1" iperf3 -c "$3" -t "$SECS" -J | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))'
  wait
}

pps_ns() { # client_ns server_ns dst bind dev -> "offered received" packets/s of 64-byte UDP
  # dst: where L sends; bind: where H's sink listens; dev: H's interface
  # whose rx_packets count the arrivals.
  local before after sent sink spec
  case "$4" in *:*) spec="UDP6-RECV:9000,bind=[$4],reuseaddr" ;; *) spec="UDP4-RECV:9000,bind=$4,reuseaddr" ;; esac
  # ip netns exec execs socat, so $! is socat itself (a function in the
  # background would leave it running and holding our stdout).
  ip netns exec "$2" socat -u "$spec" /dev/null </dev/null >/dev/null 2>&1 & sink=$!
  sleep 0.3
  before=$(nsx "$2" cat "/sys/class/net/$5/statistics/rx_packets")
  local d="$3"; case "$d" in *:*) d="[$d]" ;; esac
  sent=$(nsx "$1" "$XTASK" blast --dst "$d:9000" --secs "$SECS" --size 64 --flows 16)
  sleep 0.3
  after=$(nsx "$2" cat "/sys/class/net/$5/statistics/rx_packets")
  kill "$sink" 2>/dev/null; wait "$sink" 2>/dev/null || true
  echo "$((sent / SECS)) $(((after - before) / SECS))"
}

ptopo() { # $1 = tag; sets L P H: legacy -- proxy -- HIP host
  mkns L "pl$1"; mkns P "pp$1"; mkns H "ph$1"
  veth "$L" eth0 "$P" lan0
  veth "$P" wan0 "$H" srv0
  nsx "$L" ip addr add 10.1.0.11/24 dev eth0; nsx "$L" ip route add default via 10.1.0.1
  nsx "$P" ip addr add 10.1.0.1/24 dev lan0; nsx "$P" ip addr add 192.0.2.1/24 dev wan0
  nsx "$H" ip addr add 192.0.2.10/24 dev srv0
  nsx "$P" sysctl -qw net.ipv4.ip_forward=1
  nsx "$L" ping -c1 -W1 10.1.0.1 >/dev/null; nsx "$P" ping -c1 -W1 192.0.2.10 >/dev/null
}

HOSTHOST=0
if want hosthost; then
say "extra: ours host <-> host (ESP BEET, AES-128-GCM, static SAs, HIT to HIT)"
topo o
K1=000102030405060708090a0b0c0d0e0f10111213
K2=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3
host_conf() { # side me peer hit_me hit_peer key_out key_in spi_out spi_in
  cat > "$STATE/$1.toml" <<T
[control]
socket = "$STATE/$1.sock"
[esp]
tun = "hip0"
tun_addrs = ["$4/28"]
host_datapath = "$HOST_DP"
xdp_interfaces = ["e0"]
[[sa]]
spi = $8
direction = "out"
key = "$6"
local = "$2"
peer = "$3"
inner_local = "$4"
inner_peer = "$5"
[[sa]]
spi = $9
direction = "in"
key = "$7"
local = "$2"
peer = "$3"
inner_local = "$4"
inner_peer = "$5"
T
}
host_conf a 10.9.0.1 10.9.0.2 2001:20::a 2001:20::b $K1 $K2 0x1001 0x2002
host_conf b 10.9.0.2 10.9.0.1 2001:20::b 2001:20::a $K2 $K1 0x2002 0x1001
ip netns exec "$A" "$CTL" run --config "$STATE/a.toml" > "$STATE/a.log" 2>&1 & PIDS+=($!)
ip netns exec "$B" "$CTL" run --config "$STATE/b.toml" > "$STATE/b.log" 2>&1 & PIDS+=($!)
wait_sock "$STATE/a.sock"; wait_sock "$STATE/b.sock"
nsx "$A" ping -6 -c1 -W2 2001:20::b >/dev/null
CASE=hosthost; HOSTHOST=$(tcp 2001:20::b); echo "TCP: $HOSTHOST Mbit/s"
fi

# The proxy case, with the proxy's ESP engine $2 ("af_xdp": the AF_XDP
# workers carry established flows; "tun": the TUN path alone).
proxy_case() { # tag datapath -> R_TCP R_OFF R_PPS
ptopo "$1"
ip netns exec "$H" dnsmasq --keep-in-foreground --pid-file= --no-resolv --no-hosts --conf-file=/dev/null --bind-interfaces \
  --listen-address=192.0.2.10 --local=/example/ --host-record=hip-host.example,192.0.2.10 \
  --dns-rr=hip-host.example,55,"$RDATA" >/dev/null 2>&1 & PIDS+=($!)
cat > "$STATE/h$1.toml" <<T
[control]
socket = "$STATE/h$1.sock"
[hip]
identities = ["$STATE/host.pem"]
[esp]
tun = "hip0"
tun_addrs = ["$HHIT/28"]
host_datapath = "$HOST_DP"
xdp_interfaces = ["srv0"]
T
cat > "$STATE/p$1.toml" <<T
[control]
socket = "$STATE/p$1.sock"
[datapath]
lan = "lan0"
wan = "wan0"
pin_dir = "$BPF/proxy$1"
[nat]
wan_v4 = "192.0.2.1"
[pool]
v4 = "100.64.0.0/24"
[dns]
listen = "10.1.0.1:53"
upstream = "192.0.2.10:53"
[hip]
role = "proxy"
identities = ["$STATE/proxy.pem"]
[esp]
tun = "hipp0"
datapath = "$2"
T
ip netns exec "$H" "$CTL" run --config "$STATE/h$1.toml" > "$STATE/h$1.log" 2>&1 & PIDS+=($!)
ip netns exec "$P" "$CTL" run --config "$STATE/p$1.toml" > "$STATE/p$1.log" 2>&1 & PIDS+=($!)
wait_sock "$STATE/h$1.sock"; wait_sock "$STATE/p$1.sock"
SUB=""
for _ in $(seq 50); do SUB=$(nsx "$L" kdig @10.1.0.1 hip-host.example A +short +timeout=1 2>/dev/null | head -1) && [ -n "$SUB" ] && break; sleep 0.2; done
[ -n "$SUB" ] || { echo "no substitute for hip-host.example" >&2; cat "$STATE/p$1.log" >&2; exit 1; }
echo "hip-host.example -> $SUB (HIT $HHIT)"
CONNECT=$(nsx "$L" python3 -c "
import socket, time
s = socket.socket(); s.settimeout(5); t = time.monotonic()
try:
    s.connect(('$SUB', 9))
except OSError:
    pass
print(round((time.monotonic() - t) * 1000, 1))")
echo "first packet to the substitute (base exchange included), until the host's RST: $CONNECT ms"
# iperf3's server binds the HIT; the client talks to the substitute.
R_TCP=$(tcp_ns "$L" "$H" "$SUB" "$HHIT"); echo "TCP: $R_TCP Mbit/s"
"$CTL" --socket "$STATE/p$1.sock" stats | grep -E "^afxdp_(drop|xsk)" | grep -v " 0$" | sed 's/^/after TCP: /' || true
# The HIP host's engine: ESP packets opened vs TUN writes (GRO runs).
"$CTL" --socket "$STATE/h$1.sock" sa list | grep -E "^(esp_rx|xsk_rx|xsk_kernel_drops|local_tx|drop_io) " | sed 's/^/HIP host after TCP: /' || true
read -r R_OFF R_PPS <<<"$(pps_ns "$L" "$H" "$SUB" "$HHIT" hip0)"; echo "64-byte UDP: offered $R_OFF pps, received $R_PPS pps"
"$CTL" --socket "$STATE/p$1.sock" sa list | grep -E "drop|local_tx|esp_rx|held|released" || true
"$CTL" --socket "$STATE/p$1.sock" esp flows | grep -E "^(outbound|inbound|drop_)" || true
"$CTL" --socket "$STATE/p$1.sock" stats | grep -E "^(xsk_|afxdp_)" | grep -v " 0$" || true
}

mkbpffs BPF
for who in proxy host; do "$CTL" --json identity new --algo p256 --out "$STATE/$who.pem" > "$STATE/$who.id"; done
HHIT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hit"])' "$STATE/host.id")
RDATA=$(python3 -c '
import base64, json, sys
alg, hit, pk = json.load(open(sys.argv[1]))["hip_rr"].split()
h, k = bytes.fromhex(hit), base64.b64decode(pk)
print((bytes([len(h), int(alg)]) + len(k).to_bytes(2, "big") + h + k).hex())' "$STATE/host.id")
TUN_TCP=0 TUN_PPS=0 OURS=0 OURS_OFF=0 OURS_PPS=0 BTUN=0 BT_OFF=0 BT_PPS=0 PLAIN=0 PL_OFF=0 PL_PPS=0
if want tun; then
  say "extra: ours, TUN path only: legacy host -> proxy (DNS, HIP proxy, ESP) -> HIP host"
  CASE=tun; proxy_case t tun; TUN_TCP=$R_TCP; TUN_PPS=$R_PPS
fi

if want ours; then
  say "ours: legacy host -> proxy (DNS, HIP proxy, ESP on AF_XDP workers) -> HIP host"
  CASE=ours; proxy_case o af_xdp; OURS=$R_TCP; OURS_OFF=$R_OFF; OURS_PPS=$R_PPS
fi

if want boringtun; then
say "reference: boringtun (userspace WireGuard) proxy <-> host, same topology"
ptopo w
for s in P H; do nsx "${!s}" wg genkey > "$STATE/$s.key"; wg pubkey < "$STATE/$s.key" > "$STATE/$s.pub"; done
wgup() { # ns ifname key peerpub peer_endpoint my_cidr allowed_ips
  rm -f "/var/run/wireguard/$2.sock"
  ip netns exec "$1" env WG_SUDO=1 "$BT" -f --disable-drop-privileges --threads 1 "$2" > "$STATE/$2.log" 2>&1 & PIDS+=($!)
  for _ in $(seq 50); do [ -S "/var/run/wireguard/$2.sock" ] && break; sleep 0.1; done
  nsx "$1" wg set "$2" private-key "$3" listen-port 51820 peer "$(cat "$4")" endpoint "$5:51820" allowed-ips "$7"
  nsx "$1" ip addr add "$6" dev "$2"
  nsx "$1" ip link set "$2" mtu 1420 up
}
wgup "$P" "wgp$TAG" "$STATE/P.key" "$STATE/H.pub" 192.0.2.10 10.77.0.1/24 10.77.0.2/32
wgup "$H" "wgh$TAG" "$STATE/H.key" "$STATE/P.pub" 192.0.2.1 10.77.0.2/24 10.77.0.1/32,10.1.0.0/24
nsx "$H" ip route add 10.1.0.0/24 dev "wgh$TAG"
nsx "$L" ping -c1 -W2 10.77.0.2 >/dev/null
CASE=boringtun; BTUN=$(tcp_ns "$L" "$H" 10.77.0.2); echo "TCP: $BTUN Mbit/s"
read -r BT_OFF BT_PPS <<<"$(pps_ns "$L" "$H" 10.77.0.2 10.77.0.2 "wgh$TAG")"; echo "64-byte UDP: offered $BT_OFF pps, received $BT_PPS pps"
fi

if want plain; then
say "ceiling: plain forwarding legacy -> proxy -> host, no tunnel"
ptopo p
nsx "$H" ip route add 10.1.0.0/24 via 192.0.2.1
CASE=plain; PLAIN=$(tcp_ns "$L" "$H" 192.0.2.10); echo "TCP: $PLAIN Mbit/s"
read -r PL_OFF PL_PPS <<<"$(pps_ns "$L" "$H" 192.0.2.10 192.0.2.10 srv0)"; echo "64-byte UDP: offered $PL_OFF pps, received $PL_PPS pps"
fi

say "summary ($(nproc) CPUs, $(uname -r), ${SECS}s per case, HIP host receives on $HOST_DP)"
gbit() { awk -v m="$1" 'BEGIN { printf "%.2f", m / 1000 }'; }
echo "proxy path, TCP Gbit/s:      ours $(gbit "$OURS"), boringtun $(gbit "$BTUN"), plain $(gbit "$PLAIN")"
echo "proxy path, 64-byte UDP pps: ours $OURS_PPS, boringtun $BT_PPS, plain $PL_PPS (offered $OURS_OFF / $BT_OFF / $PL_OFF)"
echo "ours / plain (TCP): $(awk -v a="$OURS" -v b="$PLAIN" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
echo "ours / boringtun (64-byte pps): $(awk -v a="$OURS_PPS" -v b="$BT_PPS" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
echo "proxy path, TUN engine only: TCP $(gbit "$TUN_TCP") Gbit/s, 64-byte UDP $TUN_PPS pps"
echo "host <-> host, TCP: ours $(gbit "$HOSTHOST") Gbit/s"
RATIO=$(awk -v a="$OURS" -v b="$BTUN" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "bench esp: ours $(gbit "$OURS") Gbit/s, boringtun $(gbit "$BTUN") Gbit/s, ratio $RATIO"
