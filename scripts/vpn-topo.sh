# The mobile-VPN topology (source after lib.sh), used by bench handover and
# the demo; tests/tests/vpn.rs builds the same one with the Rust harness.
#
#   cn 10.1.1.10 ── ha 10.1.1.1|10.1.0.1 ── gw 10.1.0.254|192.0.2.1 ── inet ─┬─ 198.51.100.0/24 (net A) ── mn eth_a
#                   (home 10.2.0.0/24)                                      └─ 203.0.113.0/24  (net B) ── mn eth_b
#
# MN home address 10.2.0.5; care-of addresses 198.51.100.23 (A), 203.0.113.23 (B).
# The MN <-> GW SAs come from a HIP base exchange (identities made by
# vpn_configs with `proxy-ctl identity new`, algorithm VPN_HIP_ALGO).
SIU_KEY=$(printf '5a%.0s' $(seq 32))
MNHA_KEY=6d6e2d68612d736563726574

vpn_topo() { # sets CN HA GW INET MN
  mkns CN vcn; mkns HA vha; mkns GW vgw; mkns INET vin; mkns MN vmn
  veth "$CN" eth0 "$HA" lan1; veth "$HA" lan0 "$GW" in0; veth "$GW" out0 "$INET" gw0
  veth "$INET" neta "$MN" eth_a; veth "$INET" netb "$MN" eth_b
  nsx "$CN" ip addr add 10.1.1.10/24 dev eth0; nsx "$CN" ip route add default via 10.1.1.1
  nsx "$HA" ip addr add 10.1.1.1/24 dev lan1; nsx "$HA" ip addr add 10.1.0.1/24 dev lan0
  nsx "$HA" ip route add default via 10.1.0.254
  nsx "$GW" ip addr add 10.1.0.254/24 dev in0; nsx "$GW" ip addr add 192.0.2.1/24 dev out0
  nsx "$GW" ip route add default via 192.0.2.254; nsx "$GW" ip route add 10.1.1.0/24 via 10.1.0.1
  nsx "$INET" ip addr add 192.0.2.254/24 dev gw0; nsx "$INET" ip addr add 198.51.100.1/24 dev neta
  nsx "$INET" ip addr add 203.0.113.1/24 dev netb
  for n in "$HA" "$GW" "$INET"; do nsx "$n" sysctl -qw net.ipv4.ip_forward=1; done
  for n in "$HA" "$GW" "$MN"; do nsx "$n" sysctl -qw net.ipv4.conf.all.rp_filter=0; done
  nsx "$MN" ip addr add 198.51.100.23/24 dev eth_a; nsx "$MN" ip route add default via 198.51.100.1
}

# vpn_hit KEYFILE: a new host identity, prints its HIT.
vpn_hit() {
  "$CTL" --json identity new --algo "${VPN_HIP_ALGO:-p256}" --out "$1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["hit"])'
}

vpn_configs() { # $1 = dir, $2 = fast_handover (true/false), $3 = retransmit_ms, $4 = max_retransmissions
  local encap='encap_dev = "lan0"'   # IP-in-IP in eBPF (TC egress); VPN_HA_ENCAP=tun: userspace
  [ "${VPN_HA_ENCAP:-ebpf}" = tun ] && encap=''
  # VPN_REALTIME=N: [scheduling] realtime_priority = N in all three
  # daemons (SCHED_FIFO for their ESP and handover threads).
  local sched=''
  [ -n "${VPN_REALTIME:-}" ] && sched="[scheduling]
realtime_priority = $VPN_REALTIME"
  # VPN_DATAPATH=af_xdp: the GW and the MN receive ESP on AF_XDP sockets
  # ([esp] host_datapath; xdp_host on the GW's public interface and the
  # MN's care-of interfaces); empty or raw: raw sockets.
  local gw_esp='' mn_esp=''
  if [ -n "${VPN_DATAPATH:-}" ] && [ "$VPN_DATAPATH" != raw ]; then
    gw_esp="[esp]
host_datapath = \"$VPN_DATAPATH\"
xdp_interfaces = [\"out0\"]"
    mn_esp="[esp]
host_datapath = \"$VPN_DATAPATH\""
  fi
  [ -f "$1/gw.pem" ] || GW_HIT=$(vpn_hit "$1/gw.pem")
  [ -f "$1/mn.pem" ] || MN_HIT=$(vpn_hit "$1/mn.pem")
  cat > "$1/ha.toml" <<EOT
$sched
[control]
socket = "$1/ha.sock"
[vpn.ha]
address = "10.1.0.1"
$encap
home_prefix = "10.2.0.0/24"
private = ["10.1.0.0/16"]
[[vpn.ha.gateway]]
inner = "10.1.0.254"
siu_key_id = 1
siu_key = "$SIU_KEY"
[[vpn.ha.node]]
home = "10.2.0.5"
spi = 2147483664
key = "$MNHA_KEY"
EOT
  cat > "$1/gw.toml" <<EOT
$sched
$gw_esp
[control]
socket = "$1/gw.sock"
[hip]
identities = ["$1/gw.pem"]
[vpn.gw]
inner = "10.1.0.254"
public = "192.0.2.1"
inner_dev = "in0"
[[vpn.gw.home_agent]]
address = "10.1.0.1"
siu_key_id = 1
siu_key = "$SIU_KEY"
[[vpn.gw.node]]
home = "10.2.0.5"
hit = "$MN_HIT"
EOT
  cat > "$1/mn.toml" <<EOT
$sched
$mn_esp
[control]
socket = "$1/mn.sock"
[hip]
identities = ["$1/mn.pem"]
[vpn.mn]
home = "10.2.0.5"
home_agent = "10.1.0.1"
gateway = "192.0.2.1"
gateway_hit = "$GW_HIT"
routes = ["10.1.0.0/16"]
interfaces = ["eth_a", "eth_b"]
mn_ha_spi = 2147483664
mn_ha_key = "$MNHA_KEY"
fast_handover = ${2:-true}
retransmit_ms = ${3:-1000}
max_retransmissions = ${4:-2}
EOT
}

vpn_start() { # $1 = dir; starts ha, gw, mn daemons (logs in $1/*.log)
  local r
  for r in ha:$HA gw:$GW mn:$MN; do
    # Not through nsx: a backgrounded function is a subshell, and its pid
    # is not the daemon's.
    # VPN_NICE: a niceness for the daemons (bench handover's BENCH_NICE).
    ip netns exec "${r#*:}" ${VPN_NICE:+nice -n "$VPN_NICE"} "$CTL" run --config "$1/${r%%:*}.toml" > "$1/${r%%:*}.log" 2>&1 &
    PIDS+=($!)
    wait_sock "$1/${r%%:*}.sock"
  done
}

# vpn_move NS FROM_DEV TO_DEV TO_ADDR TO_GW: the MN leaves one visited
# network for the other (address removed, the other added with its route).
vpn_move() {
  nsx "$1" ip -batch - <<EOT
addr flush dev $2
addr add $4/24 dev $3
route replace default via $5 dev $3
EOT
}
