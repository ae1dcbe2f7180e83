# Topology of the rendezvous / mobility demo and the move benchmark (issue
# 6): a router R joins the Initiator I (10.61.1.2), the rendezvous server V
# (10.61.2.2) and the HIP host H, which can sit on network A (e0,
# 10.61.3.2) or network B (e1, 10.61.4.2). Needs lib.sh.
#
#  [I] 10.61.1.2 ─┐           ┌─ 10.61.3.2 e0 [H]  (network A)
#                 ├── [R] ────┤
#  [V] 10.61.2.2 ─┘  (rvs)    └─ 10.61.4.2 e1 [H]  (network B)

rvs_topo() {
  mkns R r; mkns I i; mkns V v; mkns H h
  nsx "$R" sysctl -qw net.ipv4.ip_forward=1
  veth "$R" e1 "$I" e0; veth "$R" e2 "$V" e0; veth "$R" e3 "$H" e0; veth "$R" e4 "$H" e1
  for n in 1 2 3 4; do ip -n "$R" addr add "10.61.$n.1/24" dev "e$n"; done
  ip -n "$I" addr add 10.61.1.2/24 dev e0; ip -n "$I" route add default via 10.61.1.1
  ip -n "$V" addr add 10.61.2.2/24 dev e0; ip -n "$V" route add default via 10.61.2.1
  ip -n "$H" addr add 10.61.3.2/24 dev e0; ip -n "$H" route add default via 10.61.3.1
}

# rvs_ids DIR: key files and HITs (HIT_I, HIT_V, HIT_H).
rvs_ids() {
  local d=$1 n
  for n in i v h; do
    "$CTL" --json identity new --algo p256 --out "$d/$n.pem" > "$d/$n.json"
  done
  HIT_I=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hit"])' "$d/i.json")
  HIT_V=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hit"])' "$d/v.json")
  HIT_H=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hit"])' "$d/h.json")
}

# rvs_configs DIR MOBILITY: v.toml (rvs), h.toml (host registered with V,
# mobility = MOBILITY), i.toml (knows H only at V's address).
rvs_configs() {
  local d=$1 m=$2
  cat > "$d/v.toml" <<EOT
[control]
socket = "$d/v.sock"
[hip]
role = "rvs"
identities = ["$d/v.pem"]
rvs_allowed = ["$HIT_H"]
EOT
  cat > "$d/h.toml" <<EOT
[control]
socket = "$d/h.sock"
[hip]
identities = ["$d/h.pem"]
mobility = "$m"
[hip.rendezvous]
hit = "$HIT_V"
address = "10.61.2.2"
[esp]
tun = "hip0"
tun_addrs = ["$HIT_H/28"]
EOT
  cat > "$d/i.toml" <<EOT
[control]
socket = "$d/i.sock"
[hip]
identities = ["$d/i.pem"]
[[hip.peer]]
hit = "$HIT_H"
locators = ["10.61.2.2"]
[esp]
tun = "hip0"
tun_addrs = ["$HIT_I/28"]
EOT
}

# rvs_start DIR NAME...: start the daemons of the named nodes.
rvs_start() {
  local d=$1 n ns; shift
  for n in "$@"; do
    case $n in v) ns=$V ;; h) ns=$H ;; i) ns=$I ;; esac
    nsx "$ns" "$CTL" run --config "$d/$n.toml" > "$d/$n.log" 2>&1 &
    PIDS+=($!)
    wait_sock "$d/$n.sock"
  done
}

# rvs_move_to a|b: H changes network (new address and route, then the old
# address goes, as a handover looks to the host).
rvs_move_to() {
  if [ "$1" = b ]; then
    nsx "$H" sh -c 'ip addr add 10.61.4.2/24 dev e1 && ip route replace default via 10.61.4.1 dev e1 && ip addr del 10.61.3.2/24 dev e0'
  else
    nsx "$H" sh -c 'ip addr add 10.61.3.2/24 dev e0 && ip route replace default via 10.61.3.1 dev e0 && ip addr del 10.61.4.2/24 dev e1'
  fi
}
