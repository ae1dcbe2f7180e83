#!/usr/bin/env bash
# bench nat: packets/s through the substitute-address NAT (XDP) versus
# nftables NAT, and plain kernel forwarding as the ceiling, on the same
# namespace topology, in one run:
#
#   gen 10.1.0.2 ── r_lan [router] r_wan ── sink 192.0.2.10
#
# The generator (cargo xtask blast: sendmmsg, 16 flows, 64-byte frames on
# the wire) sends to 100.64.0.10 (NAT cases) or straight to 192.0.2.10
# (plain forwarding). The figure is packets that reach the sink's IP layer
# per second (IpInReceives), next to what the generator offered.
#
# CPUs: the generator runs on CPU 0; the router's receive processing runs
# in a threaded-NAPI kernel thread pinned to CPU 1 (GRO on, so veth uses
# NAPI in every case, XDP or not). Without this split, veth processes the
# whole path in the sender's own softirq, and every case measures the
# generator's CPU rather than the forwarding path.
source "$(dirname "$0")/lib.sh"
SECS=${BENCH_SECS:-5}
XTASK=$ROOT/target/release/xtask
[ -x "$XTASK" ] || cargo build --release -p xtask

topo() { # $1 = tag; sets G R K
  mkns G "g$1"; mkns R "r$1"; mkns K "k$1"
  LAN=rlan$1
  veth "$G" eth0 "$R" "$LAN"; veth "$R" rwan "$K" eth0
  nsx "$R" ethtool -K "$LAN" gro on >/dev/null
  nsx "$R" sh -c "echo 1 > /sys/class/net/$LAN/threaded"
  nsx "$G" ip addr add 10.1.0.2/24 dev eth0; nsx "$G" ip route add default via 10.1.0.1
  nsx "$R" ip addr add 10.1.0.1/24 dev "$LAN"; nsx "$R" ip addr add 192.0.2.1/24 dev rwan
  nsx "$K" ip addr add 192.0.2.10/24 dev eth0
  nsx "$R" sysctl -qw net.ipv4.ip_forward=1
  # Resolve neighbours first so no case pays for ARP during the run.
  nsx "$G" ping -c1 -W1 10.1.0.1 >/dev/null; nsx "$R" ping -c1 -W1 192.0.2.10 >/dev/null
}

measure() { # $1 = ns to send from, $2 = dst, $3 = sink ns -> "offered received"
  local before after sent t
  # Pin the router's NAPI thread(s) for $LAN to CPU 1.
  for t in $(pgrep "napi/$LAN" || true); do taskset -pc 1 "$t" >/dev/null; done
  before=$(nsx "$3" nstat -az IpInReceives | awk '/IpInReceives/{print $2}')
  sent=$(nsx "$1" taskset -c 0 "$XTASK" blast --dst "$2:9000" --secs "$SECS")
  sleep 0.2
  after=$(nsx "$3" nstat -az IpInReceives | awk '/IpInReceives/{print $2}')
  echo "$((sent / SECS)) $(((after - before) / SECS))"
}

say "ours: XDP substitute-address NAT"
topo a
mkbpffs BPF
cat > "$STATE/p.toml" <<T
[datapath]
lan = "$LAN"
wan = "rwan"
pin_dir = "$BPF/proxy"
[nat]
wan_v4 = "192.0.2.1"
[pool]
v4 = "100.64.0.0/24"
[control]
socket = "$STATE/p.sock"
[[mapping]]
substitute = "100.64.0.10"
peer = "192.0.2.10"
T
nsx "$R" "$CTL" run --config "$STATE/p.toml" 2> "$STATE/daemon.log" & PIDS+=($!)
wait_sock "$STATE/p.sock"
nsx "$K" "$CTL" xdp-pass eth0 --pin "$BPF/pass-sink"
nsx "$G" "$CTL" xdp-pass eth0 --pin "$BPF/pass-gen"
read -r OURS_OFF OURS <<<"$(measure "$G" 100.64.0.10 "$K")"
echo "offered $OURS_OFF pps, received $OURS pps"
"$CTL" --socket "$STATE/p.sock" stats | grep -E "nat_forward|redirected|passed|drop" || true

say "ours, redirect = false: XDP NAT, then the kernel's forwarding path"
topo d
sed -e "s#rlana#$LAN#" -e "s#redirect = true##" -e "s#p.sock#p2.sock#" -e "s#$BPF/proxy#$BPF/proxy2#" \
  -e "s#^\[datapath\]#[datapath]\nredirect = false#" "$STATE/p.toml" > "$STATE/p2.toml"
nsx "$R" "$CTL" run --config "$STATE/p2.toml" 2>> "$STATE/daemon.log" & PIDS+=($!)
wait_sock "$STATE/p2.sock"
read -r KF_OFF KF <<<"$(measure "$G" 100.64.0.10 "$K")"
echo "offered $KF_OFF pps, received $KF pps"

say "reference: nftables DNAT + masquerade"
topo b
nsx "$R" nft -f - <<N
table ip t {
  chain pre { type nat hook prerouting priority dstnat; ip daddr 100.64.0.10 dnat to 192.0.2.10; }
  chain post { type nat hook postrouting priority srcnat; oifname "rwan" masquerade; }
}
N
read -r NFT_OFF NFT <<<"$(measure "$G" 100.64.0.10 "$K")"
echo "offered $NFT_OFF pps, received $NFT pps"

say "ceiling: plain kernel forwarding, no NAT"
topo c
read -r FWD_OFF FWD <<<"$(measure "$G" 192.0.2.10 "$K")"
echo "offered $FWD_OFF pps, received $FWD pps"

say "summary ($(nproc) CPUs, $(uname -r), ${SECS}s per case, 16 flows, 18-byte UDP payload)"
echo "plain forwarding: $FWD pps (generator offered $FWD_OFF)"
echo "ours with redirect = false: $KF pps (generator offered $KF_OFF)"
echo "ours (default, redirect): generator offered $OURS_OFF; nftables: offered $NFT_OFF"
RATIO=$(awk -v a="$OURS" -v b="$NFT" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "bench nat: ours $OURS pps, nftables $NFT pps, ratio $RATIO"
