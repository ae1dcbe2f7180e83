#!/usr/bin/env bash
# bench dns: queries/s a legacy host gets answered through the proxy's DNS
# interception path versus dnsmasq forwarding the same queries to the
# same upstream, in one run:
#
#   client 10.1.0.2 ── lan [router 10.1.0.1] wan 192.0.2.1 ── upstream 192.0.2.10
#
# The upstream is dnsmasq, authoritative for NAMES HIP hosts (A, AAAA and a
# type 55 HIP RR each) and NAMES ordinary hosts. dnsperf on the client
# sends A queries for all of them, in random order, for SECS seconds.
#
# ours: the client asks the upstream's own address (192.0.2.10); the TC
#       program on the router's LAN steers each query to proxy-ctl's
#       resolver, which answers HIP names with substitutes (and keeps the
#       mappings) and passes the others through, from the asked address.
# reference: dnsmasq on the router (10.1.0.1), forwarding to the same
#       upstream, with a cache as large as ours (10000 answers): both
#       answer repeated names from memory for their TTL (300 s here).
# informational: both with caches off. Then every query is forwarded, and
#       ours asks upstream three questions per A query (A, AAAA for the
#       locators, HIP RR), so the upstream bounds it near a third of
#       dnsmasq's figure.
source "$(dirname "$0")/lib.sh"
SECS=${BENCH_SECS:-10}
NAMES=${BENCH_NAMES:-200}
KEY=AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D
# The RFC 8005 §6 example RR as hex RDATA, but for the HIT's last two bytes.
KEYHEX=$(echo "$KEY" | base64 -d | od -An -v -tx1 | tr -d ' \n')
KEYLEN=$(printf '%04x' $(( ${#KEYHEX} / 2 )))

mkns C c; mkns R r; mkns U u
veth "$C" eth0 "$R" lan; veth "$R" wan "$U" eth0
nsx "$C" ip addr add 10.1.0.2/24 dev eth0; nsx "$C" ip route add default via 10.1.0.1
nsx "$R" ip addr add 10.1.0.1/24 dev lan; nsx "$R" ip addr add 192.0.2.1/24 dev wan
nsx "$U" ip addr add 192.0.2.10/24 dev eth0; nsx "$U" ip route add default via 192.0.2.1
nsx "$R" sysctl -qw net.ipv4.ip_forward=1

{
  for i in $(seq 1 "$NAMES"); do
    hit=$(printf '200100107b1a74df365639cc39f1%04x' "$i")
    echo "host-record=hip$i.example,192.0.2.10,2001:db8::10"
    echo "dns-rr=hip$i.example,55,1002${KEYLEN}${hit}${KEYHEX}"
    echo "host-record=plain$i.example,192.0.2.$(( (i % 200) + 20 ))"
  done
} > "$STATE/upstream.conf"
ip netns exec "$U" dnsmasq --keep-in-foreground --pid-file= --no-resolv --no-hosts --conf-file="$STATE/upstream.conf" \
  --listen-address=192.0.2.10 --bind-interfaces --local=/example/ --local-ttl=300 --cache-size=0 \
  --dns-forward-max=10000 2> "$STATE/upstream.log" & PIDS+=($!)
for i in $(seq 1 "$NAMES"); do echo "hip$i.example A"; echo "plain$i.example A"; done | shuf > "$STATE/queries"
for _ in $(seq 50); do nsx "$C" kdig @192.0.2.10 plain1.example +short +timeout=1 2>/dev/null | grep -q . && break; sleep 0.1; done

perf() { # $1 = server address -> "qps lost"
  nsx "$C" dnsperf -s "$1" -d "$STATE/queries" -l "$SECS" -c 4 -q 200 -t 2 > "$STATE/perf.out" 2>&1 || true
  local qps lost
  qps=$(awk '/Queries per second/{printf "%d", $4}' "$STATE/perf.out")
  lost=$(awk '/Queries lost/{print $3}' "$STATE/perf.out")
  echo "${qps:-0} ${lost:-?}"
}

mkbpffs BPF
ours() { # $1 = tag, $2 = cache_size -> "qps lost"
  cat > "$STATE/p$1.toml" <<T
[datapath]
lan = "lan"
wan = "wan"
pin_dir = "$BPF/proxy$1"
[nat]
wan_v4 = "192.0.2.1"
[pool]
v4 = "100.64.0.0/16"
[control]
socket = "$STATE/p$1.sock"
[dns]
listen = "10.1.0.1:53"
upstream = "192.0.2.10:53"
intercept = true
cache_size = $2
T
  ip netns exec "$R" env RUST_LOG=warn "$CTL" run --config "$STATE/p$1.toml" 2> "$STATE/daemon$1.log" &
  DAEMON=$!; PIDS+=($DAEMON)
  wait_sock "$STATE/p$1.sock" >&2
  nsx "$C" kdig @192.0.2.10 hip1.example +short +timeout=2 >&2
  perf 192.0.2.10
  # Where lost queries went: socket buffer overflows on the router.
  nsx "$R" nstat -az UdpRcvbufErrors UdpInErrors UdpInCsumErrors UdpInDatagrams UdpNoPorts IpInDiscards IpInAddrErrors IpInHdrErrors >&2 || true
  "$CTL" --socket "$STATE/p$1.sock" stats | grep -E "dns_(steered|answer_restored|queries_udp|answered|passed|servfail )" >&2 || true
  cp "$STATE/daemon$1.log" "/tmp/bench-dns-daemon$1.log"
  kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true
}

dnsmasq_ref() { # $1 = cache size -> "qps lost"
  ip netns exec "$R" dnsmasq --keep-in-foreground --pid-file= --no-resolv --no-hosts --conf-file=/dev/null \
    --listen-address=10.1.0.1 --bind-interfaces --server=192.0.2.10 --cache-size="$1" --dns-forward-max=10000 \
    2>> "$STATE/ref.log" & REFPID=$!; PIDS+=($REFPID)
  for _ in $(seq 50); do nsx "$C" kdig @10.1.0.1 plain1.example +short +timeout=1 2>/dev/null | grep -q . && break; sleep 0.1; done
  perf 10.1.0.1
  kill "$REFPID" 2>/dev/null || true; wait "$REFPID" 2>/dev/null || true
}

say "ours: queries to 192.0.2.10 steered to proxy-ctl's resolver (answer cache 10000)"
read -r OURS OURS_LOST <<<"$(ours a 10000)"
echo "ours: $OURS qps, $OURS_LOST lost"

say "reference: dnsmasq on the router forwarding to the same upstream (cache 10000)"
read -r REF REF_LOST <<<"$(dnsmasq_ref 10000)"
echo "dnsmasq: $REF qps, $REF_LOST lost"

say "informational: both without cache (every query forwarded; ours asks A, AAAA and HIP upstream)"
read -r OURS0 OURS0_LOST <<<"$(ours b 0)"
echo "ours, cache_size = 0: $OURS0 qps, $OURS0_LOST lost"
read -r REF0 REF0_LOST <<<"$(dnsmasq_ref 0)"
echo "dnsmasq, cache-size=0: $REF0 qps, $REF0_LOST lost"

say "summary ($(nproc) CPUs, $(uname -r), ${SECS}s per case, $NAMES HIP + $NAMES plain names, A queries)"
echo "without cache: ours $OURS0 qps ($OURS0_LOST lost), dnsmasq $REF0 qps ($REF0_LOST lost)"
echo "lost queries: ours $OURS_LOST, dnsmasq $REF_LOST"
RATIO=$(awk -v a="$OURS" -v b="$REF" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "bench dns: ours $OURS qps, dnsmasq $REF qps, ratio $RATIO"
