#!/usr/bin/env bash
# bench move: interruption of a stream when the HIP host moves to another
# network (issue 6). The Initiator streams UDP to the host's HIT at
# BENCH_PPS packets/s (default 5000: a 0.2 ms resolution) through the ESP
# SAs; the host records arrival times and sends a small report back every
# 20 packets (as a real-time stream's receiver reports or TCP's ACKs
# would). Figure per move: from the host daemon reading its rtnetlink
# address event to the first stream packet at the new address; median
# over BENCH_MOVES moves A <-> B. Same run and topology:
#   update  recovery by UPDATE (RFC 8046: LOCATOR_SET, the peer's address
#           check with ECHO_REQUEST/RESPONSE, then SAs moved); the default,
#           strict configuration (no data before the echo)
#   cba     the same with credit-based authorization on the Initiator
#           (`credit_based_authorization = true`, RFC 8046 §5.5): data to
#           the new locator at once, within the credit the reports earned;
#           printed as a `#` line
#   rebex   a fresh base exchange from the new address (host restarted with
#           mobility = "rebex"), the reference.
# Last line: ratio = rebex / update (strict).
# BENCH_TIMELINE=1: debug logs on both daemons and a capture on the router
# during the strict pass; prints the timeline of each move (scripts/move-timeline.py).
# BENCH_KEEP=DIR: copy the logs, configs and captures there at the end.
# Topology and configs: scripts/rvs-topo.sh.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/rvs-topo.sh"
MOVES=${BENCH_MOVES:-7}
PPS=${BENCH_PPS:-5000}
TIMELINE=${BENCH_TIMELINE:-0}
if [ "$TIMELINE" = 1 ]; then export RUST_LOG=${RUST_LOG:-info,proxy_ctl::daemon::hip=debug,proxy_ctl::daemon::esp_hip=debug}; fi
[ -x "$CTL" ] || cargo build --release -p proxy-ctl

rvs_topo
D=$STATE
rvs_ids "$D"
rvs_configs "$D" update
rvs_start "$D" v h i
sleep 0.5
# First packet: base exchange via the RVS.
nsx "$I" ping -6 -c 3 -i 0.2 -W 3 -q "$HIT_H" > /dev/null
RTT=$(nsx "$I" ping -6 -c 10 -i 0.1 -q "$HIT_H" | awk -F/ '/rtt/ {print $5}')

cat > "$D/rx.py" <<'PY'
import socket, struct, sys, signal, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind((sys.argv[1], 5000)); s.settimeout(0.2)
ts = []; n = 0
def done(*_):
    open(sys.argv[2], "w").write("\n".join(f"{t:.6f} {u:.6f}" for t, u in ts)); sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    try:
        d, peer = s.recvfrom(64)
    except socket.timeout:
        continue
    # (arrival, departure): the sender stamps each packet.
    ts.append((time.time(), struct.unpack("!d", d[8:16])[0] if len(d) >= 16 else 0.0)); n += 1
    if n % 20 == 0:
        try:
            s.sendto(n.to_bytes(8, "big") * 2, peer)
        except OSError:
            pass
PY
cat > "$D/tx.py" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.setblocking(False); i = 0; t = time.monotonic()
period = 1.0 / int(sys.argv[2])
while True:
    try:
        s.sendto(i.to_bytes(8, "big") + struct.pack("!d", time.time()), (sys.argv[1], 5000))
    except OSError:
        pass
    try:
        while s.recv(64): pass
    except OSError:
        pass
    i += 1; t += period; d = t - time.monotonic()
    if d > 0: time.sleep(d)
PY

# run_moves LABEL LOG: MOVES moves under the stream; prints "LABEL median_ms".
# The figure per move: from the host daemon reading the rtnetlink event of
# its old address going (`event_at` of its "local addresses changed" line)
# to the arrival of the first stream packet sent after that event (so it
# came to the new address; packets still queued from the old path do not
# count); the largest gap in the stream around the move is shown too (it
# also holds the `ip` commands' time).
run_moves() {
  local label=$1 log=$2 rxp txp i at=a
  : > "$D/moves-$label"
  ip netns exec "$H" python3 "$D/rx.py" "$HIT_H" "$D/rx-$label" & rxp=$!
  sleep 0.3
  ip netns exec "$I" python3 "$D/tx.py" "$HIT_H" "$PPS" & txp=$!
  sleep 1
  for i in $(seq "$MOVES"); do
    date +%s.%N >> "$D/moves-$label"
    if [ $at = a ]; then rvs_move_to b; at=b; else rvs_move_to a; at=a; fi
    sleep 1.5
  done
  kill $txp; wait $txp 2>/dev/null || true
  sleep 0.3
  kill $rxp; wait $rxp 2>/dev/null || true
  # Back on network A for the next run.
  if [ $at = b ]; then rvs_move_to a; sleep 1; fi
  python3 - "$D/rx-$label" "$D/moves-$label" "$label" "$log" <<'PY'
import sys, statistics, datetime, bisect
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]).read().splitlines() if l.strip()]
ts = [a for a, _ in rows]
moves = [float(x) for x in open(sys.argv[2]).read().split()]
label = sys.argv[3]
seen = []
for line in open(sys.argv[4]):
    # The old address went (removed=[...] not empty): time zero.
    if "local addresses changed (rtnetlink)" in line and "removed=[]" not in line:
        seen.append(float(line.split("event_at=")[1].split()[0]))
# The host's own moves during this run (not the move back afterwards).
seen = [t for t in seen if moves[0] - 0.1 <= t <= moves[-1] + 1.4]
resume = []
for t in seen:
    first = next((a for a, sent in rows if sent > t), None)
    resume.append((first - t) * 1000 if first is not None else 1400.0)
gaps = []
# Scheduling jitter of the stream away from any move (the floor).
calm = [max((b - a for a, b in zip(w, w[1:])), default=0) * 1000
        for w in ([t for t in ts if m + 0.4 <= t <= m + 1.4] for m in moves)]
for m in moves:
    w = [t for t in ts if m - 0.05 <= t <= m + 1.4]
    if len(w) < 2:
        print(f"# {label}: no data around the move at {m}", file=sys.stderr); gaps.append(1400.0); continue
    gaps.append(max(b - a for a, b in zip(w, w[1:])) * 1000)
print(f"# {label}: address change seen -> stream resumes (ms): {' '.join(f'{g:.2f}' for g in resume)}")
print(f"# {label}: largest gap around each move (ms): {' '.join(f'{g:.1f}' for g in gaps)}; median {statistics.median(gaps):.1f}")
print(f"# {label}: largest gap away from moves (jitter floor, ms): {statistics.median(calm):.1f}")
if len(resume) < len(moves):
    print(f"# {label}: only {len(resume)} address changes logged for {len(moves)} moves", file=sys.stderr)
print(f"{label} {statistics.median(resume):.3f}")
PY
}

# restart_daemon INDEX NS NAME LOG: stop the daemon PIDS[INDEX] (the subshell
# that runs it: its child first), wait for its TUN to go, start NAME again
# with its (edited) config, logging to LOG.
restart_daemon() {
  local idx=$1 ns=$2 n=$3 log=$4 child
  child=$(pgrep -P "${PIDS[$idx]}" || true)
  pkill -TERM -P "${PIDS[$idx]}" 2>/dev/null || true; wait "${PIDS[$idx]}" 2>/dev/null || true
  for _ in $(seq 100); do [ -n "$child" ] && kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
  rm -f "$D/$n.sock"
  nsx "$ns" "$CTL" run --config "$D/$n.toml" > "$log" 2>&1 &
  PIDS[$idx]=$!
  wait_sock "$D/$n.sock"
}

say "UPDATE (RFC 8046), strict address check: $MOVES moves"
if [ "$TIMELINE" = 1 ]; then
  nsx "$R" dumpcap -q -i e1 -i e3 -i e4 -f "ip proto 139 or ip proto 50" -w "$D/move.pcapng" 2>/dev/null & CAP=$!
  sleep 1
fi
UPD=$(run_moves update "$D/h.log" | tee /dev/stderr | tail -1)
"$CTL" --socket "$D/i.sock" assoc stats | grep -E "locators_verified|address_checks|switched_to_checked" >&2 || true
if [ "$TIMELINE" = 1 ]; then
  sleep 0.7; kill "$CAP"; wait "$CAP" 2>/dev/null || true
  python3 "$ROOT/scripts/move-timeline.py" "$D/moves-update" "$D/h.log" "$D/i.log" "$D/move.pcapng" "$D/rx-update" >&2 || true
fi

say "UPDATE with credit-based authorization on the Initiator: $MOVES moves"
# PIDS: 0 = V, 1 = H, 2 = I (rvs_start order).
sed -i '/^identities = /a credit_based_authorization = true' "$D/i.toml"
restart_daemon 2 "$I" i "$D/i2.log"
sleep 0.5
nsx "$I" ping -6 -c 3 -i 0.2 -W 3 -q "$HIT_H" > /dev/null || { echo "no path after restarting the Initiator" >&2; exit 1; }
CBA=$(run_moves cba "$D/h.log" | tee /dev/stderr | tail -1)
"$CTL" --socket "$D/i.sock" assoc stats | grep -E "locators_verified|address_checks|switched_to_checked|credit" >&2 || true

say "reference: a fresh base exchange on every move"
"$CTL" --socket "$D/i.sock" assoc close "$HIT_H" > /dev/null
sed -i 's/^mobility = .*/mobility = "rebex"/' "$D/h.toml"
restart_daemon 1 "$H" h "$D/h2.log"
sleep 1
nsx "$I" ping -6 -c 3 -i 0.2 -W 3 -q "$HIT_H" > /dev/null || { echo "no path to the restarted host" >&2; exit 1; }
REBEX=$(run_moves rebex "$D/h2.log" | tee /dev/stderr | tail -1)

read -r _ u_ms <<< "$UPD"
read -r _ c_ms <<< "$CBA"
read -r _ r_ms <<< "$REBEX"
echo "# RTT I<->H through ESP: ${RTT} ms; stream ${PPS} packets/s; goal: UPDATE interruption <= 1 RTT + 10 ms, ratio >= 3"
python3 -c "import sys; c, r = float(sys.argv[1]), float(sys.argv[2]); print(f'# with credit-based authorization (RFC 8046 §5.5, not the default): {c:.2f} ms, ratio {r/c:.2f}')" "$c_ms" "$r_ms"
python3 -c "import sys; u, r = float(sys.argv[1]), float(sys.argv[2]); print(f'bench move: ours {u:.2f} ms, fresh base exchange {r:.2f} ms, ratio {r/u:.2f}')" "$u_ms" "$r_ms"
if [ -n "${BENCH_KEEP:-}" ]; then mkdir -p "$BENCH_KEEP"; cp -r "$D"/. "$BENCH_KEEP"/; fi
