#!/usr/bin/env bash
# bench esp: two hosts in namespaces, side by side in one run:
#
#   [A] ── veth 10.9.0.1 ═══ 10.9.0.2 ── [B]
#
#  ours:      host-role daemons, static ESP SAs (AES-128-GCM, BEET), traffic
#             HIT to HIT (2001:20::a -> 2001:20::b) through the TUN devices
#  boringtun: userspace WireGuard (boringtun-cli --threads 1, MTU 1420),
#             traffic fd77::1 -> fd77::2 through wg interfaces
#  plain:     no tunnel, fd09::1 -> fd09::2 on the veth (the ceiling)
#
# Figures: TCP throughput (iperf3, one stream, MSS from the path MTU: about
# 1400-byte segments) and UDP packets/s with 64-byte datagrams offered by a
# sendmmsg blaster (cargo xtask blast, 16 flows), counted at B's IPv6 layer.
# Both ends share the machine's CPUs: the figure is what the box moves.
source "$(dirname "$0")/lib.sh"
SECS=${BENCH_SECS:-5}
XTASK=$ROOT/target/release/xtask
[ -x "$XTASK" ] || cargo build --release -p xtask
BT=${BORINGTUN:-$(command -v boringtun-cli || echo "$HOME/.cargo/bin/boringtun-cli")}
[ -x "$BT" ] || { echo "boringtun-cli not found: cargo install boringtun-cli" >&2; exit 1; }
command -v wg >/dev/null || { echo "wg not found: apt-get install --no-install-recommends wireguard-tools" >&2; exit 1; }

topo() { # $1 = tag; sets A B
  mkns A "ea$1"; mkns B "eb$1"
  veth "$A" e0 "$B" e0
  nsx "$A" ip addr add 10.9.0.1/24 dev e0; nsx "$B" ip addr add 10.9.0.2/24 dev e0
  nsx "$A" ip addr add fd09::1/64 dev e0 nodad; nsx "$B" ip addr add fd09::2/64 dev e0 nodad
  nsx "$A" ping -c1 -W1 10.9.0.2 >/dev/null
}

tcp() { # $1 = dst -> Mbit/s received
  nsx "$B" iperf3 -s -1 -D -B "$1" >/dev/null; sleep 0.3
  nsx "$A" iperf3 -c "$1" -t "$SECS" -J | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))'
}

pps() { # $1 = dst -> "offered received" packets/s of 64-byte UDP
  local before after sent sink
  # ip netns exec execs socat, so $! is socat itself (a function in the
  # background would leave it running and holding our stdout).
  ip netns exec "$B" socat -u "UDP6-RECV:9000,bind=[$1],reuseaddr" /dev/null </dev/null >/dev/null 2>&1 & sink=$!
  sleep 0.3
  before=$(nsx "$B" nstat -az Ip6InReceives | awk '/Ip6InReceives/{print $2}')
  sent=$(nsx "$A" "$XTASK" blast --dst "[$1]:9000" --secs "$SECS" --size 64 --flows 16)
  sleep 0.3
  after=$(nsx "$B" nstat -az Ip6InReceives | awk '/Ip6InReceives/{print $2}')
  kill "$sink" 2>/dev/null; wait "$sink" 2>/dev/null || true
  echo "$((sent / SECS)) $(((after - before) / SECS))"
}

say "ours: ESP (BEET, AES-128-GCM) between two host daemons"
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
OURS=$(tcp 2001:20::b); echo "TCP: $OURS Mbit/s"
read -r OURS_OFF OURS_PPS <<<"$(pps 2001:20::b)"; echo "64-byte UDP: offered $OURS_OFF pps, received $OURS_PPS pps"
"$CTL" --socket "$STATE/b.sock" sa list | grep -E "drop|local_tx|esp_rx" || true

say "reference: boringtun (userspace WireGuard)"
topo w
for s in A B; do nsx "${!s}" wg genkey > "$STATE/$s.key"; wg pubkey < "$STATE/$s.key" > "$STATE/$s.pub"; done
wgup() { # ns ifname key peerpub peer_endpoint my_addr peer_addr
  rm -f "/var/run/wireguard/$2.sock"
  ip netns exec "$1" env WG_SUDO=1 "$BT" -f --disable-drop-privileges --threads 1 "$2" > "$STATE/$2.log" 2>&1 & PIDS+=($!)
  for _ in $(seq 50); do [ -S "/var/run/wireguard/$2.sock" ] && break; sleep 0.1; done
  nsx "$1" wg set "$2" private-key "$3" listen-port 51820 peer "$(cat "$4")" endpoint "$5:51820" allowed-ips "$7/128"
  nsx "$1" ip addr add "$6/64" dev "$2" nodad
  nsx "$1" ip link set "$2" mtu 1420 up
}
wgup "$A" "wga$TAG" "$STATE/A.key" "$STATE/B.pub" 10.9.0.2 fd77::1 fd77::2
wgup "$B" "wgb$TAG" "$STATE/B.key" "$STATE/A.pub" 10.9.0.1 fd77::2 fd77::1
nsx "$A" ping -6 -c1 -W2 fd77::2 >/dev/null
BTUN=$(tcp fd77::2); echo "TCP: $BTUN Mbit/s"
read -r BT_OFF BT_PPS <<<"$(pps fd77::2)"; echo "64-byte UDP: offered $BT_OFF pps, received $BT_PPS pps"

say "ceiling: plain veth, no tunnel"
topo p
PLAIN=$(tcp fd09::2); echo "TCP: $PLAIN Mbit/s"
read -r PL_OFF PL_PPS <<<"$(pps fd09::2)"; echo "64-byte UDP: offered $PL_OFF pps, received $PL_PPS pps"

say "summary ($(nproc) CPUs, $(uname -r), ${SECS}s per case)"
echo "TCP Mbit/s:      ours $OURS, boringtun $BTUN, plain $PLAIN"
echo "64-byte UDP pps: ours $OURS_PPS, boringtun $BT_PPS, plain $PL_PPS (offered $OURS_OFF / $BT_OFF / $PL_OFF)"
echo "ours / plain (TCP): $(awk -v a="$OURS" -v b="$PLAIN" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
RATIO=$(awk -v a="$OURS" -v b="$BTUN" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "bench esp: ours $OURS Mbit/s, boringtun $BTUN Mbit/s, ratio $RATIO"
