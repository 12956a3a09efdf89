#!/usr/bin/env python3
"""Did a firing alert reach its receiver in every repeat interval of a span?
(tests/e2e/checks/staging-os-roll.sh: the span is the roll.)

  repeat_cover.py SINK_JSONL ALERT RECEIVER T_START T_FAULT T0 T1 T_CLEAR \\
                  REPEAT GROUP_INTERVAL PEER_WAIT ALLOWED_DUPLICATES [HOLE_FROM HOLE_TO]

Reads the HTTP sink's JSON lines (webhook_sink.py) received from T_START on
by RECEIVER about ALERT, prints them (times from T_FAULT, the fault that made
the alert fire; T_CLEAR when it was cleared) and checks:
  - a firing notification came before the span [T0, T1] began;
  - no two consecutive firing notifications that reach into the span are
    more than one notification cycle apart, nor is the span's end: a cycle
    is REPEAT + GROUP_INTERVAL (the flush a repeat falls in) + 2 × PEER_WAIT
    (the wait of the last peers by cluster position) + 15 s of slack;
  - at most ALLOWED_DUPLICATES duplicates (the same status and alerts again
    sooner than REPEAT) before T_CLEAR: Alertmanager delivers at least once,
    and a peer that was replaced may not yet hold the notification log on
    its turn;
  - after T_CLEAR, a resolved notification, and the last one resolved. (At
    the threshold crossing the two Prometheus replicas evaluate at different
    moments: one can still send the alert firing after the other sent it
    resolved, and Alertmanager takes the latest word. Seen on the lab:
    resolved, firing 0.7 s later from another peer, resolved 24 s later.
    Those are printed, not counted as duplicates of the roll.)
HOLE_FROM HOLE_TO (optional): a part of the span in which the alert's own
source was gone (staging-os-roll: app-1, the only orders-api, replaced; the
alert resolves and its `for` starts again once the fault is put back), from
HOLE_FROM to HOLE_TO, the first firing notification after it: the coverage is
checked from T0 to HOLE_FROM and from HOLE_TO to T1 (when T1 is later), not
across the hole; what arrives in it is printed, and duplicates in it (two
peers sending the resolution) are not counted.
Exit 1 naming what failed. Times are epoch seconds, durations seconds.
"""
import json
import sys

TOLERANCE = 2.0  # s: the sink's clock vs. the notification log's


def main(argv):
    path, alert, receiver = argv[1:4]
    t_start, t_fault, t0, t1, t_clear, repeat, group_interval, peer_wait = map(float, argv[4:12])
    allowed = int(argv[12])
    hole = (float(argv[13]), float(argv[14])) if len(argv) > 14 else None
    bound = repeat + group_interval + 2 * peer_wait + 15
    notes = []
    for line in open(path):
        if not line.strip():
            continue
        n = json.loads(line)
        if n["received_at"] >= t_start and n.get("receiver") == receiver and \
                any(a["labels"].get("alertname") == alert for a in n.get("alerts", [])):
            notes.append(n)
    notes.sort(key=lambda n: n["received_at"])
    firing = [n for n in notes if n["status"] == "firing"]
    resolved = [n for n in notes if n["status"] == "resolved"]

    def rel(t):
        return f"{t - t_fault:.1f}s"

    def sender(n):
        return n.get("externalURL", "?").split("://")[-1].split(":")[0]

    def content(n):
        return n["status"], tuple(sorted((a["fingerprint"], a["status"]) for a in n["alerts"]))

    errors, dups = [], []
    print(f"  times from the fault: span {rel(t0)} → {rel(t1)}, fault cleared at {rel(t_clear)}; "
          f"repeat interval {repeat:.0f}s, one cycle at most {bound:.0f}s")
    prev = None
    for n in notes:
        note = ""
        if prev is not None:
            gap = n["received_at"] - prev["received_at"]
            note = f"  (+{gap:.1f}s)"
            in_hole = hole is not None and hole[0] <= n["received_at"] < hole[1]
            if content(prev) == content(n) and gap < repeat - TOLERANCE and n["received_at"] <= t_clear and not in_hole:
                dups.append(f"{n['status']} again {gap:.1f}s after {rel(prev['received_at'])} (by {sender(prev)}, then {sender(n)})")
                note += " duplicate"
        print(f"    {rel(n['received_at']):>8} {n['status']:<8} by {sender(n)}{note}")
        prev = n
    spans = [(t0, t1)] if hole is None else [(t0, hole[0])] + ([(hole[1], t1)] if t1 > hole[1] else [])
    if hole is not None:
        print(f"  hole (the alert's source replaced, then its `for` again): {rel(hole[0])} → {rel(hole[1])}, not covered")
    for s0, s1 in spans:
        if not any(n["received_at"] <= s0 + TOLERANCE for n in firing):
            errors.append(f"no firing notification before {rel(s0)}")
        for a, b in zip(firing, firing[1:]):
            gap = b["received_at"] - a["received_at"]
            across = hole is not None and a["received_at"] < hole[1] and b["received_at"] > hole[0]
            if b["received_at"] > s0 and a["received_at"] < s1 and gap > bound and not across:
                errors.append(f"a repeat interval missed: {gap:.1f}s between {rel(a['received_at'])} and {rel(b['received_at'])}")
        last = max((n["received_at"] for n in firing if n["received_at"] <= s1), default=None)
        if last is not None and s1 - last > bound:
            errors.append(f"no firing notification in the {s1 - last:.1f}s before {rel(s1)}")
    if len(dups) > allowed:
        errors.append(f"{len(dups)} duplicates, at most {allowed}: {'; '.join(dups)}")
    after = [n for n in notes if n["received_at"] > t_clear]
    if not resolved or not after or after[-1]["status"] != "resolved":
        errors.append(f"not resolved after the fault was cleared: {[n['status'] for n in after]}")
    during = sum(t0 <= n["received_at"] <= t1 for n in firing)
    print(f"  {alert} to {receiver}: {len(firing)} firing ({during} within the span of {t1 - t0:.0f}s), "
          f"{len(dups)} duplicate(s) before the clear (at most {allowed}); after the clear: "
          f"{', '.join(n['status'] for n in after) or 'nothing'}")
    for e in errors:
        print("  ERROR: " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
