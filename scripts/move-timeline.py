#!/usr/bin/env python3
"""Timeline of each move of `bench move` (BENCH_TIMELINE=1): the host's and
the Initiator's debug logs (µs timestamps, same clock: one machine), a
capture on the router and the receiver's arrival times, as milliseconds
after the host daemon read its rtnetlink event (`event_at`).

usage: move-timeline.py MOVES H_LOG I_LOG CAPTURE RX
"""
import datetime
import re
import statistics
import subprocess
import sys

I_ADDR = "10.61.1.2"
FIELD = re.compile(r'(\w+)=("[^"]*"|\[[^\]]*\]|\S+)')


def parse_log(path):
    out = []
    for line in open(path, errors="replace"):
        parts = line.split(None, 3)
        if len(parts) < 4 or not parts[0][:4].isdigit():
            continue
        try:
            t = datetime.datetime.fromisoformat(parts[0].rstrip("Z")).replace(tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            continue
        msg = parts[3]
        fields = {k: v.strip('"') for k, v in FIELD.findall(msg)}
        text = FIELD.sub("", msg).split(":", 1)[-1].strip()
        out.append((t, text, fields, msg))
    return out


def first(log, t0, pred):
    return next((e for e in log if e[0] >= t0 and pred(e)), None)


def capture(path):
    try:
        r = subprocess.run(
            ["tshark", "-r", path, "-T", "fields", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst",
             "-e", "ip.proto", "-e", "hip.type"],
            capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return []
    rows = []
    for l in r.stdout.splitlines():
        f = l.split("\t")
        if len(f) >= 4 and f[0]:
            rows.append((float(f[0]), f[1], f[2], f[3], f[4] if len(f) > 4 else ""))
    return rows


def main():
    moves_f, h_log, i_log, cap, rx = sys.argv[1:6]
    moves = [float(x) for x in open(moves_f).read().split()]
    h, i = parse_log(h_log), parse_log(i_log)
    pkts = capture(cap)
    rows = [tuple(map(float, l.split())) for l in open(rx).read().splitlines() if l.strip()]
    events = [e for e in h if "local addresses changed (rtnetlink)" in e[3] and "removed=[]" not in e[3]]
    events = [e for e in events if moves[0] - 0.1 <= float(e[2]["event_at"]) <= moves[-1] + 1.4]
    steps = {}

    def add(name, t, t0):
        if t is not None:
            steps.setdefault(name, []).append((t - t0) * 1000)
            return f"{(t - t0) * 1000:7.3f}"
        return "      -"

    print("# timeline per move, ms after the host daemon read the rtnetlink event (H = moving host, I = peer, R = router capture)")
    for ev in events:
        t0 = float(ev[2]["event_at"])
        new = ev[2]["addrs"].strip("[]").split(",")[0].strip()
        line = []
        summary = first(h, t0, lambda e: "addresses changed: UPDATE sent" in e[3])
        q = summary and summary[2].get("queued_us")
        line.append(("H driver has it", t0 + float(q) / 1e6 if q else None))
        upd = first(h, t0, lambda e: e[1].startswith("HIP sent") and e[2].get("kind") == "UPDATE" and e[2].get("dst") == I_ADDR)
        line.append(("H UPDATE sent", upd and upd[0]))
        r_upd = next((p for p in pkts if p[0] >= t0 and p[1] == new and p[2] == I_ADDR and p[3] == "139"), None)
        line.append(("R UPDATE", r_upd and r_upd[0]))
        i_upd = first(i, t0, lambda e: e[1].startswith("HIP packet") and e[2].get("kind") == "UPDATE" and e[2].get("src") == new)
        line.append(("I got UPDATE", i_upd and i_upd[0] - float(i_upd[2].get("took_us", 0)) / 1e6))
        moved = first(i, t0, lambda e: "SAs moved" in e[3] and e[2].get("peer_locator") == new)
        # An echo request counts only before the SAs moved: with the new
        # address checked ahead (make-before-break) the peer moves on the
        # UPDATE and what it sends to the new address is the ACK.
        i_req = first(i, t0, lambda e: e[1].startswith("HIP sent") and e[2].get("kind") == "UPDATE" and e[2].get("dst") == new)
        if i_req and moved and i_req[0] > moved[0]:
            i_req = None
        line.append(("I echo req sent", i_req and i_req[0]))
        h_req = i_req and first(h, t0, lambda e: e[1].startswith("HIP packet") and e[2].get("kind") == "UPDATE" and e[2].get("src") == I_ADDR)
        line.append(("H got echo req", h_req and h_req[0] - float(h_req[2].get("took_us", 0)) / 1e6))
        h_resp = h_req and first(h, h_req[0], lambda e: e[1].startswith("HIP sent") and e[2].get("kind") == "UPDATE" and e[2].get("dst") == I_ADDR)
        line.append(("H echo resp sent", h_resp and h_resp[0]))
        i_resp = i_req and first(i, i_req[0], lambda e: e[1].startswith("HIP packet") and e[2].get("kind") == "UPDATE" and e[2].get("src") == new)
        line.append(("I got echo resp", i_resp and i_resp[0] - float(i_resp[2].get("took_us", 0)) / 1e6))
        line.append(("I SAs moved", moved and moved[0]))
        esp = next((p for p in pkts if p[0] >= t0 and p[1] == I_ADDR and p[2] == new and p[3] == "50"), None)
        line.append(("R first ESP to new", esp and esp[0]))
        app = next((a for a, sent in rows if sent > t0), None)
        line.append(("H app got data", app))
        mode = "strict check " if i_req else "checked ahead"
        print(mode + "  " + "  ".join(f"{n} {add(n, t, t0)}" for n, t in line))
    if steps:
        print("# medians: " + ", ".join(f"{n} {statistics.median(v):.3f}" for n, v in steps.items()))


if __name__ == "__main__":
    main()
