#!/usr/bin/env python3
"""A readiness probe loop for the rolling checks (tests/e2e/checks/staging-rolling.sh).

  ready_probe.py run CA PASSWORD_FILE LOG NAME=URL...
      asks every URL every 100 ms (one thread each, as obsctl, trusting CA),
      appending "TIME NAME 1|0|slow" to LOG, until SIGTERM. NAME is
      COMPONENT@HOST; a URL with /api/v1/query counts only when the query
      succeeds with a sample.
  ready_probe.py report LOG [FROM TO]
      per target its longest gap (from the first down answer to the next
      good one) and per component the longest time during which NO target of
      the component answered (the component was dark). Prints one line each
      and, last, a JSON object {"dark": {COMPONENT: seconds}, "gap": {...}}.

An answer is 1 (ready, or a query with a sample), 0 (down: connection
refused or reset, not ready, a failed query) or "slow" (no answer within the
1 s timeout). A restart shows as down: the listener closes, then /-/ready
says 503 until the TSDB is loaded. A slow answer is a peer that is still up
on a loaded machine (the 2-core CI machine runs both lab lanes and the moto
stack at once): it neither starts nor ends a gap, and is counted apart.
"""
import base64
import json
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request

PERIOD = 0.1


def run(ca, password_file, log, targets):
    password = open(password_file).read().strip()
    auth = "Basic " + base64.b64encode(f"obsctl:{password}".encode()).decode()
    context = ssl.create_default_context(cafile=ca)
    lock = threading.Lock()
    out = open(log, "a", buffering=1)
    stop = threading.Event()

    def probe(name, url):
        nxt = time.time()
        while not stop.is_set():
            t = time.time()
            ok = "0"
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": auth}),
                                            timeout=1, context=context) as r:
                    body = r.read()
                    ok = "1" if r.status == 200 else "0"
                    if ok == "1" and "/api/v1/query" in url:
                        data = json.loads(body)
                        ok = "1" if data.get("status") == "success" and data["data"]["result"] else "0"
            except (TimeoutError, socket.timeout):
                ok = "slow"
            except urllib.error.URLError as e:
                ok = "slow" if isinstance(e.reason, (TimeoutError, socket.timeout)) else "0"
            except Exception:
                ok = "0"
            with lock:
                out.write(f"{t:.3f} {name} {ok}\n")
            nxt += PERIOD
            stop.wait(max(0.0, nxt - time.time()))

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = []
    for spec in targets:
        name, url = spec.split("=", 1)
        th = threading.Thread(target=probe, args=(name, url), daemon=True)
        th.start()
        threads.append(th)
    while not stop.is_set():
        stop.wait(1)
    for th in threads:
        th.join(3)


def failing_spans(samples):
    """[(start, end)] during which the target did not answer: from the first
    failed sample to the next good one (or the last sample)."""
    spans, start = [], None
    for t, ok in samples:
        if not ok and start is None:
            start = t
        elif ok and start is not None:
            spans.append((start, t))
            start = None
    if start is not None:
        spans.append((start, samples[-1][0]))
    return spans


def intersect(a, b):
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return out


def report(log, t_from=None, t_to=None):
    samples, slow = {}, {}
    for line in open(log):
        t, name, ok = line.split()
        t = float(t)
        if (t_from is not None and t < t_from) or (t_to is not None and t > t_to):
            continue
        samples.setdefault(name, [])
        slow.setdefault(name, 0)
        if ok == "slow":
            slow[name] += 1
        else:
            samples[name].append((t, ok == "1"))
    gap, dark, spans = {}, {}, {}
    for name, s in sorted(samples.items()):
        s.sort()
        spans[name] = failing_spans(s)
        gap[name] = round(max((e - b for b, e in spans[name]), default=0.0), 3)
        fails = sum(1 for _, ok in s if not ok)
        print(f"  {name:<34} {len(s):>6} answers, {fails:>4} down, {slow[name]:>4} slow (>1 s), longest gap {gap[name]:.1f}s")
    components = sorted({n.split("@")[0] for n in samples})
    for c in components:
        members = [n for n in samples if n.split("@")[0] == c]
        common = spans[members[0]]
        for m in members[1:]:
            common = intersect(common, spans[m])
        dark[c] = round(max((e - b for b, e in common), default=0.0), 3)
        print(f"  {c:<34} dark (no member answering) for at most {dark[c]:.1f}s, longest gap of one member "
              f"{max(gap[m] for m in members):.1f}s")
    answered = {name: sum(1 for _, ok in s if ok) for name, s in sorted(samples.items())}
    print(json.dumps({"dark": dark, "gap": gap, "answered": answered, "slow": slow}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"] and len(sys.argv) >= 6:
        run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    elif sys.argv[1:2] == ["report"] and len(sys.argv) in (3, 5):
        report(sys.argv[2], *(float(x) for x in sys.argv[3:5]))
    else:
        sys.exit(__doc__)
