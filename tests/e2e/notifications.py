#!/usr/bin/env python3
"""What dev's four receivers got, for the end-to-end test (tests/e2e/lab.sh).

Reads the HTTP sink's JSON lines (webhook_sink.py: webhook, slack,
pagerduty) and the SMTP sink's messages.jsonl (smtp_sink.py: email), keeps
the notifications about one alert, and checks them:

  notifications.py SINK_JSONL MAIL_DIR ALERT ENV wait STATUS SINCE BOUND
      waits (up to BOUND seconds) until every receiver kind has a STATUS
      (firing|resolved) notification about ALERT received after SINCE (epoch
      seconds); checks that each names ALERT and ENV and links the alert's
      runbook section, which must exist in docs/runbooks.md (and, for
      resolved, says it is resolved and how long it lasted). Prints one JSON
      object: {kind: seconds from SINCE to arrival}. Exit 1 naming what is
      missing or wrong.
  notifications.py SINK_JSONL MAIL_DIR ALERT ENV count SINCE UNTIL
      prints {kind: {"firing": n, "resolved": n}} for notifications about
      ALERT received in [SINCE, UNTIL).
"""
import json
import re
import sys
import time
from pathlib import Path

KINDS = ("email", "webhook", "slack", "pagerduty")
ROOT = Path(__file__).resolve().parents[2]


def anchors():
    out = set()
    for line in (ROOT / "docs/runbooks.md").read_text().splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*$", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


def lines(path):
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def notifications(sink, mail_dir, alert):
    """[(kind, status, received_at, text)] about `alert`, in arrival order."""
    out = []
    for r in lines(sink):
        kind = r.get("kind", "webhook")
        if kind == "webhook":
            mine = [a for a in r.get("alerts", []) if a["labels"].get("alertname") == alert]
            if mine:
                status = "firing" if any(a["status"] == "firing" for a in mine) else "resolved"
                out.append((kind, status, r["received_at"], json.dumps(r)))
        elif kind == "slack":
            a = (r.get("attachments") or [{}])[0]
            title = a.get("title", "")
            if alert in title:
                status = "firing" if title.startswith("[FIRING") else "resolved"
                out.append((kind, status, r["received_at"], json.dumps(r)))
        elif kind == "pagerduty":
            summary = (r.get("payload") or {}).get("summary", "")
            if r.get("event_action") == "resolve" or alert in summary:
                status = "firing" if r.get("event_action") == "trigger" else "resolved"
                out.append((kind, status, r["received_at"], json.dumps(r)))
    for m in lines(Path(mail_dir) / "messages.jsonl"):
        subject = m["headers"].get("Subject", "")
        if alert in subject:
            status = "firing" if subject.startswith("[FIRING") else "resolved"
            out.append(("email", status, m["received_at"], subject + "\n" + m.get("text", "")))
    return sorted(out, key=lambda n: n[2])


def problems_of(kind, status, text, alert, env, known):
    p = []
    if alert not in text:
        p.append("does not name the alert")
    if not re.search(rf"\b{re.escape(env)}\b", text):
        p.append(f"does not name the environment {env}")
    links = re.findall(r"docs/runbooks\.md#([a-z0-9_-]+)", text)
    if not links:
        p.append("has no runbook link")
    elif any(l not in known for l in links):
        p.append(f"links runbook sections that do not exist: {sorted(set(links) - known)}")
    if status == "resolved" and kind in ("email", "slack"):
        if "RESOLVED after" not in text:
            p.append("does not say how long the alert lasted")
    if status == "resolved" and kind == "email" and "is resolved" not in text:
        p.append("does not say it is resolved")
    return [f"{kind} {status}: {x}" for x in p]


def main(argv):
    if len(argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    sink, mail_dir, alert, env, cmd, *rest = argv[1:]
    if cmd == "count":
        since, until = float(rest[0]), float(rest[1])
        counts = {k: {"firing": 0, "resolved": 0} for k in KINDS}
        for kind, status, at, _ in notifications(sink, mail_dir, alert):
            if since <= at < until:
                counts[kind][status] += 1
        print(json.dumps(counts))
        return 0
    if cmd != "wait":
        print(__doc__, file=sys.stderr)
        return 2
    status, since, bound = rest[0], float(rest[1]), float(rest[2])
    known = anchors()
    deadline = time.time() + bound
    while True:
        first = {}
        for kind, st, at, text in notifications(sink, mail_dir, alert):
            if st == status and at >= since and kind not in first:
                first[kind] = (at, text)
        if len(first) == len(KINDS) or time.time() >= deadline:
            break
        time.sleep(1)
    missing = [k for k in KINDS if k not in first]
    if missing:
        print(f"notifications: no {status} {alert} notification within {bound:.0f}s at: {', '.join(missing)}", file=sys.stderr)
        return 1
    problems = [p for kind, (at, text) in first.items() for p in problems_of(kind, status, text, alert, env, known)]
    if problems:
        print("notifications: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(json.dumps({k: round(first[k][0] - since, 1) for k in KINDS}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
