#!/usr/bin/env bash
# bench move: interruption of a stream when the HIP host moves to another
# network (issue 6). The Initiator streams UDP to the host's HIT at 1000
# packets/s through the ESP tunnel; the host records arrival times; for
# each move the interruption is the largest gap between arrivals around
# it. Median over several moves A <-> B. Side by side in the same run and
# topology: recovery by UPDATE (RFC 8046: LOCATOR_SET, address check with
# ECHO_REQUEST/RESPONSE, SAs moved) and by a fresh base exchange from the
# new address (host restarted with mobility = "rebex").
# Ratio = fresh-exchange interruption / UPDATE interruption.
# Topology and configs: scripts/rvs-topo.sh.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/rvs-topo.sh"
MOVES=${BENCH_MOVES:-7}
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
import socket, sys, signal, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind((sys.argv[1], 5000)); s.settimeout(0.2)
ts = []
def done(*_):
    open(sys.argv[2], "w").write("\n".join(f"{t:.6f}" for t in ts)); sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    try:
        s.recv(64)
    except socket.timeout:
        continue
    ts.append(time.time())
PY
cat > "$D/tx.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); i = 0; t = time.monotonic()
while True:
    try:
        s.sendto(i.to_bytes(8, "big"), (sys.argv[1], 5000))
    except OSError:
        pass
    i += 1; t += 0.001; d = t - time.monotonic()
    if d > 0: time.sleep(d)
PY

# run_moves LABEL LOG: MOVES moves under the stream; prints "LABEL median_ms".
# The figure per move: from the host daemon seeing its old address go (the
# rtnetlink event, logged as "addresses changed") to the first packet of
# the stream arriving at the new address; the largest gap in the stream
# around the move is shown too (it also holds the `ip` commands' time).
run_moves() {
  local label=$1 log=$2 rxp txp i at=a
  : > "$D/moves-$label"
  ip netns exec "$H" python3 "$D/rx.py" "$HIT_H" "$D/rx-$label" & rxp=$!
  sleep 0.3
  ip netns exec "$I" python3 "$D/tx.py" "$HIT_H" & txp=$!
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
ts = [float(x) for x in open(sys.argv[1]).read().split()]
moves = [float(x) for x in open(sys.argv[2]).read().split()]
label = sys.argv[3]
seen = []
for line in open(sys.argv[4]):
    if "addresses changed" in line:
        stamp = line.split()[0].rstrip("Z")
        seen.append(datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.timezone.utc).timestamp())
# The host's own moves during this run (not the move back afterwards).
seen = [t for t in seen if moves[0] - 0.1 <= t <= moves[-1] + 1.4]
resume = []
for t in seen:
    i = bisect.bisect_right(ts, t)
    resume.append((ts[i] - t) * 1000 if i < len(ts) else 1400.0)
gaps = []
# Scheduling jitter of the 1 ms stream away from any move (the floor).
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

say "UPDATE (RFC 8046): $MOVES moves"
UPD=$(run_moves update "$D/h.log" | tee /dev/stderr | tail -1)
"$CTL" --socket "$D/i.sock" assoc stats | grep -E "locators_verified|address_checks" >&2 || true

say "reference: a fresh base exchange on every move"
"$CTL" --socket "$D/i.sock" assoc close "$HIT_H" > /dev/null
# PIDS[1] is the subshell that runs H's daemon: stop its child, then it.
HPID=$(pgrep -P "${PIDS[1]}" || true)
pkill -TERM -P "${PIDS[1]}" 2>/dev/null || true; wait "${PIDS[1]}" 2>/dev/null || true
# Its TUN must be gone before the new daemon creates it.
for _ in $(seq 100); do [ -n "$HPID" ] && kill -0 "$HPID" 2>/dev/null || break; sleep 0.1; done
sed -i 's/^mobility = .*/mobility = "rebex"/' "$D/h.toml"
rm -f "$D/h.sock"
nsx "$H" "$CTL" run --config "$D/h.toml" > "$D/h2.log" 2>&1 &
PIDS+=($!)
wait_sock "$D/h.sock"
sleep 1
nsx "$I" ping -6 -c 3 -i 0.2 -W 3 -q "$HIT_H" > /dev/null || { echo "no path to the restarted host" >&2; exit 1; }
REBEX=$(run_moves rebex "$D/h2.log" | tee /dev/stderr | tail -1)

read -r _ u_ms <<< "$UPD"
read -r _ r_ms <<< "$REBEX"
echo "# RTT I<->H through ESP: ${RTT} ms; goal: UPDATE interruption <= 1 RTT + 10 ms, ratio >= 3"
python3 -c "import sys; u, r = float(sys.argv[1]), float(sys.argv[2]); print(f'bench move: ours {u:.2f} ms, fresh base exchange {r:.2f} ms, ratio {r/u:.2f}')" "$u_ms" "$r_ms"
