# Shared shell helpers for the demo and benchmarks: namespaces with unique
# names, removed on exit (also on error or Ctrl-C).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CTL=${PROXY_CTL:-$ROOT/target/release/proxy-ctl}
TAG=${TAG:-$$}
NAMESPACES=()
PIDS=()
MOUNTS=()
STATE=$(mktemp -d /tmp/hp-demo-XXXX)

cleanup() {
  set +e
  # `nsx ... &` runs in a subshell: its $! is the subshell, and the daemon
  # is that subshell's child. Stop the children first, then the subshell.
  for p in "${PIDS[@]}"; do pkill -TERM -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done
  for n in "${NAMESPACES[@]}"; do ip netns del "$n" 2>/dev/null; rm -rf "/etc/netns/$n"; done
  rm -rf "$STATE"
}
trap cleanup EXIT INT TERM

# mkns VAR ROLE: a namespace named hpROLE$TAG, its name stored in VAR
# (not echoed: a $(...) subshell would lose the cleanup list).
mkns() { local n="hp$2$TAG"; ip netns add "$n"; ip -n "$n" link set lo up; NAMESPACES+=("$n"); printf -v "$1" '%s' "$n"; }
nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }
# veth NS_A DEV_A NS_B DEV_B: a link, both ends up, checksum offload off
# (veth + XDP redirect needs full checksums, TOOLCHAIN.md).
veth() {
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up; ip -n "$3" link set "$4" up
  nsx "$1" ethtool -K "$2" tx off rx off >/dev/null 2>&1 || true
  nsx "$3" ethtool -K "$4" tx off rx off >/dev/null 2>&1 || true
}
mkbpffs() { local d="$STATE/bpf"; mkdir -p "$d"; mount -t bpf bpf "$d"; MOUNTS+=("$d"); printf -v "$1" '%s' "$d"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_sock() { for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done; echo "daemon did not start" >&2; return 1; }
# resolver NS ADDR: the namespace's /etc/resolv.conf (ip netns exec
# bind-mounts /etc/netns/NS/resolv.conf over it).
resolver() { mkdir -p "/etc/netns/$1"; echo "nameserver $2" > "/etc/netns/$1/resolv.conf"; }
