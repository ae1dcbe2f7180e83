#!/usr/bin/env python3
"""The timeline of VPN handovers from the daemons' `handover` debug events.

Usage: handover-timeline.py MN_LOG GW_LOG HA_LOG [MOVES]

Each daemon run with RUST_LOG=info,handover=debug logs one line per step
(`step=...`) with a wall-clock timestamp in microseconds; the three run on
one host, so their clocks agree. A move starts at the mobile node's
`mn_event` (its rtnetlink address event); every step seen in any log up to
the next move (at most 1.4 s later) is placed on that move's timeline, at its
first occurrence. Prints, per step, the median offset from the event in
microseconds over the last MOVES moves (all by default) and its range.
"""
import re
import statistics
import sys
from datetime import datetime

LINE = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z\s+DEBUG\s+handover:.*?\bstep="?([a-z_]+)"?')
WINDOW = 1.4


def events(path, role):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                t = datetime.fromisoformat(m.group(1)[:26]).timestamp()
                out.append((t, m.group(2), role))
    return out


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    evs = sorted(events(sys.argv[1], "mn") + events(sys.argv[2], "gw") + events(sys.argv[3], "ha"))
    starts = [t for t, step, _ in evs if step == "mn_event"]
    if len(sys.argv) > 4:
        starts = starts[-int(sys.argv[4]):]
    if not starts:
        sys.exit("no mn_event in the MN's log: was RUST_LOG=info,handover=debug set?")
    offsets = {}
    for k, t0 in enumerate(starts):
        end = min(starts[k + 1] if k + 1 < len(starts) else t0 + WINDOW, t0 + WINDOW)
        seen = set()
        for t, step, _ in evs:
            if t0 <= t < end and step not in seen:
                seen.add(step)
                offsets.setdefault(step, []).append((t - t0) * 1e6)
    rows = sorted(offsets.items(), key=lambda kv: statistics.median(kv[1]))
    print(f"# handover timeline over {len(starts)} moves: us after the MN's address event")
    print(f"# {'step':<22} {'median':>8} {'min':>8} {'max':>8}  moves")
    for step, v in rows:
        print(f"  {step:<22} {statistics.median(v):8.0f} {min(v):8.0f} {max(v):8.0f}  {len(v)}")


if __name__ == "__main__":
    main()
