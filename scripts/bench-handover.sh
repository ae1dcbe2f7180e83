#!/usr/bin/env bash
# bench handover: time from the MN's new address being up (the rtnetlink
# event at the MN daemon) to the first data packet received at the new
# care-of address, and UDP packets lost, median over several moves between
# two visited networks; side by side, in the same run and topology, the
# fallback: the VPN re-established from scratch on every move (MN restarted
# with fast_handover = false): a fresh HIP base exchange MN -> GW from the
# new address (new SPIs and keys), then the registration through it.
#
# Traffic: the correspondent node streams UDP to the MN's home address at
# BENCH_PPS packets/s (default 5000, sequence numbers); the MN counts what
# arrives. "First data" cannot be seen before the next packet of the stream
# leaves, so the stream's period (0.2 ms at 5000/s; 1 ms at 1000/s, the
# rate of the first measurements) is the resolution of both figures.
# Topology and configs: scripts/vpn-topo.sh.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/vpn-topo.sh"
MOVES=${BENCH_MOVES:-21}
PPS=${BENCH_PPS:-5000}
# BENCH_TRACE=1: the daemons log each handover step (debug events of target
# `handover`, microsecond timestamps) and the script prints the merged
# timeline of the moves (scripts/handover-timeline.py). The logging itself
# costs a few microseconds per step: figures of traced runs are not the
# benchmark's.
if [ "${BENCH_TRACE:-0}" = 1 ]; then export RUST_LOG=info,handover=debug; fi
# BENCH_NICE=N (e.g. -10): run the daemons and the stream at that
# niceness, both variants alike, so that other work on a shared machine
# (parallel builds) delays their wake-ups less; the default is unchanged.
VPN_NICE=${BENCH_NICE:-}
# BENCH_REALTIME=N (default 10; empty: off): all three daemons run with
# `[scheduling] realtime_priority = N`, in both variants alike: their ESP
# threads and the MN's, HA's and GW's handover threads are SCHED_FIFO, the
# tokio runtime (the HIP base exchange of the re-establishment) is not.
VPN_REALTIME=${BENCH_REALTIME-10}
# BENCH_DATAPATH=raw|af_xdp|auto (default raw): how the GW and the MN
# receive ESP ([esp] host_datapath), in both variants alike.
VPN_DATAPATH=${BENCH_DATAPATH:-raw}
NICE=(${VPN_NICE:+nice -n "$VPN_NICE"})
# The move (vpn_move's one `ip -batch`: address, then default route) runs
# at that niceness too: at normal priority, with the builds, the `ip`
# process lost the CPU between its two requests and the route came
# 100-400 us after the address in traced runs, in both variants alike
# (the MN's request and the fallback's I1 wait for the route).
# With BENCH_REALTIME the move runs at the daemons' SCHED_FIFO priority
# too: at normal priority the real-time ESP threads (busy with the stream)
# preempted `ip` between the address and the route, and the MN, which
# reacts to the address at once, waited 100-200 us for the route (traced
# runs), in both variants alike; a DHCP client sets both in one go.
MOVE_PRIO=(${VPN_REALTIME:+chrt -f "$VPN_REALTIME"})
bench_move() { # NS FROM TO ADDR ROUTER
  nsx "$1" "${NICE[@]}" "${MOVE_PRIO[@]}" ip -batch - <<EOT
addr flush dev $2
addr add $4/24 dev $3
route replace default via $5 dev $3
EOT
}
[ -x "$CTL" ] || cargo build --release -p proxy-ctl

vpn_topo
D=$STATE
vpn_configs "$D" true 1000 3
vpn_start "$D"
mctl() { "$CTL" --socket "$D/mn.sock" --json "$@"; }
sleep 0.5
RTT=$(nsx "$MN" ping -c 5 -i 0.2 -q 10.1.0.1 | awk -F/ '/rtt/ {print $5}')

cat > "$D/rx.py" <<'PY'
import socket, sys, signal
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.2.0.5", 5000)); s.settimeout(0.2)
got = 0; hi = -1
def done(*_):
    print(got, hi + 1); sys.stdout.flush(); sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    try:
        d = s.recv(64)
    except socket.timeout:
        continue
    got += 1; hi = max(hi, int.from_bytes(d[:8], "big"))
PY
cat > "$D/tx.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); i = 0; t = time.monotonic()
period = 1.0 / int(sys.argv[1])
while True:
    s.sendto(i.to_bytes(8, "big"), ("10.2.0.5", 5000)); i += 1
    t += period; d = t - time.monotonic()
    if d > 0: time.sleep(d)
PY

# run_moves LABEL: MOVES moves A<->B under a UDP stream; prints
# "LABEL median_ms lost_per_move" and the per-move figures.
run_moves() {
  local label=$1 rxp txp out got sent i
  ip netns exec "$MN" "${NICE[@]}" python3 "$D/rx.py" > "$D/rx.out" & rxp=$!
  sleep 0.3
  ip netns exec "$CN" "${NICE[@]}" python3 "$D/tx.py" "$PPS" & txp=$!
  sleep 1
  local at=a
  for i in $(seq "$MOVES"); do
    if [ $at = a ]; then bench_move "$MN" eth_a eth_b 203.0.113.23 203.0.113.1; at=b
    else bench_move "$MN" eth_b eth_a 198.51.100.23 198.51.100.1; at=a; fi
    sleep 1.5
  done
  kill $txp; wait $txp 2>/dev/null || true
  sleep 0.5
  kill $rxp; wait $rxp 2>/dev/null || true
  read -r got sent < "$D/rx.out"
  mctl vpn history > "$D/hist-$label.json"
  python3 - "$D/hist-$label.json" "$label" "$got" "$sent" "$MOVES" "$PPS" <<'PY'
import json, sys, statistics
h = json.load(open(sys.argv[1]))["handovers"]
label, got, sent, moves, pps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
h = h[-moves:]
t = [e["first_data_ms"] for e in h if e.get("first_data_ms") is not None]
kinds = sorted({e["kind"] for e in h})
if len(t) < moves:
    print(f"{label}: only {len(t)} of {moves} moves saw data resume", file=sys.stderr)
print(f"# {label}: first data after move (ms): {' '.join(f'{x:.2f}' for x in t)}; kinds {kinds}")
print(f"# {label}: registered (ms): {' '.join(str(round(e['registered_ms'] or -1, 2)) for e in h)}")
if label != "fast":
    print(f"# {label}: new SAs installed, base exchange done (ms): {' '.join(str(round(e['sas_updated_ms'] or -1, 2)) for e in h)}")
print(f"# {label}: distinct inbound SPIs over the moves: {len({e['inbound_spi'] for e in h})}")
print(f"# {label}: UDP sent {sent}, received {got}, lost {sent-got} in {moves} moves ({pps}/s)")
print(f"{label} {statistics.median(t):.3f} {(sent-got)/moves:.1f}")
PY
}

say "fast handover: $MOVES moves"
FAST=$(run_moves fast | tee /dev/stderr | tail -1)
# How the GW applied the SIUs (on credit before the return-routability
# echo, or after it), whether the credit ever ran out, and the HA's packets
# for a new care-of address it held until the SA moved (held, released;
# drop_no_sa: none held, or given up).
"$CTL" --socket "$D/gw.sock" --json vpn stats > "$D/gw-vpn.json"
"$CTL" --socket "$D/gw.sock" --json sa list > "$D/gw-sa.json"
python3 - "$D/gw-vpn.json" "$D/gw-sa.json" <<'PY' >&2
import json, sys
c = {x["name"]: x["value"] for f in sys.argv[1:] for x in json.load(open(f))["counters"]}
print("# GW: " + ", ".join(f"{k} {c.get(k)}" for k in
      ("siu_applied", "siu_on_credit", "siu_parked", "rr_verified", "rr_credit_revoked", "drop_no_credit",
       "held", "released", "drop_no_sa", "held_for_new_care_of", "held_given_up")))
PY
# Where the ESP arrived: on the AF_XDP sockets (xsk_rx) or the raw socket.
"$CTL" --socket "$D/mn.sock" --json sa list > "$D/mn-sa.json"
python3 - "$D/gw-sa.json" "$D/mn-sa.json" <<'PY' >&2
import json, sys
for who, f in zip(("GW", "MN"), sys.argv[1:]):
    c = {x["name"]: x["value"] for x in json.load(open(f))["counters"]}
    print(f"# {who} ESP received: {c.get('esp_rx')}, of which on AF_XDP {c.get('xsk_rx')}")
PY
if [ "${BENCH_TRACE:-0}" = 1 ]; then
  python3 "$ROOT/scripts/handover-timeline.py" "$D/mn.log" "$D/gw.log" "$D/ha.log" "$MOVES" >&2
fi

say "fallback: re-establishment on every move"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
unset 'PIDS[-1]'
# Back to net A for a clean start.
if nsx "$MN" ip -4 addr show dev eth_b | grep -q inet; then vpn_move "$MN" eth_b eth_a 198.51.100.23 198.51.100.1; fi
sed -i 's/^fast_handover = .*/fast_handover = false/' "$D/mn.toml"
ip netns exec "$MN" "${NICE[@]}" "$CTL" run --config "$D/mn.toml" > "$D/mn2.log" 2>&1 &
PIDS+=($!)
sleep 0.2; wait_sock "$D/mn.sock"; sleep 1
SLOW=$(run_moves reestablish | tee /dev/stderr | tail -1)
if [ "${BENCH_TRACE:-0}" = 1 ]; then
  python3 "$ROOT/scripts/handover-timeline.py" "$D/mn2.log" "$D/gw.log" "$D/ha.log" "$MOVES" >&2
fi

# BENCH_KEEP=DIR: keep the daemons' logs and histories there.
if [ -n "${BENCH_KEEP:-}" ]; then mkdir -p "$BENCH_KEEP"; cp "$D"/*.log "$D"/hist-*.json "$BENCH_KEEP"/; fi
read -r _ f_ms f_lost <<< "$FAST"
read -r _ s_ms s_lost <<< "$SLOW"
echo "# RTT MN<->HA through the tunnel: ${RTT} ms; packets lost per move: fast ${f_lost}, re-establishment ${s_lost}; load average $(cut -d' ' -f1-3 /proc/loadavg)${VPN_NICE:+; daemons and stream at nice $VPN_NICE}${VPN_REALTIME:+; realtime_priority $VPN_REALTIME}; ESP receive $VPN_DATAPATH"
python3 -c "import sys; f, s = float(sys.argv[1]), float(sys.argv[2]); print(f'bench handover: ours {f:.2f} ms, re-establishment {s:.2f} ms, ratio {s/f:.2f}')" "$f_ms" "$s_ms"
