#!/usr/bin/env python3
"""A readiness probe loop for the rolling checks (tests/e2e/checks/staging-rolling.sh).

  ready_probe.py run CA PASSWORD_FILE LOG NAME=URL...
      asks every URL every 100 ms (one thread each, as obsctl, trusting CA),
      appending "TIME NAME 1|0" to LOG, until SIGTERM. NAME is COMPONENT@HOST;
      a URL with /api/v1/query counts only when the query succeeds with a
      sample.
  ready_probe.py report LOG [FROM TO]
      per target its longest gap (from the first failed answer to the next
      good one) and per component the longest time during which NO target of
      the component answered (the component was dark). Prints one line each
      and, last, a JSON object {"dark": {COMPONENT: seconds}, "gap": {...}}.
"""
import base64
import json
import signal
import ssl
import sys
import threading
import time
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
            ok = 0
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": auth}),
                                            timeout=1, context=context) as r:
                    body = r.read()
                    ok = 1 if r.status == 200 else 0
                    if ok and "/api/v1/query" in url:
                        data = json.loads(body)
                        ok = 1 if data.get("status") == "success" and data["data"]["result"] else 0
            except Exception:
                ok = 0
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
    samples = {}
    for line in open(log):
        t, name, ok = line.split()
        t = float(t)
        if (t_from is not None and t < t_from) or (t_to is not None and t > t_to):
            continue
        samples.setdefault(name, []).append((t, ok == "1"))
    gap, dark, spans = {}, {}, {}
    for name, s in sorted(samples.items()):
        s.sort()
        spans[name] = failing_spans(s)
        gap[name] = round(max((e - b for b, e in spans[name]), default=0.0), 3)
        fails = sum(1 for _, ok in s if not ok)
        print(f"  {name:<34} {len(s):>6} answers, {fails:>4} failed, longest gap {gap[name]:.1f}s")
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
    print(json.dumps({"dark": dark, "gap": gap, "answered": answered}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"] and len(sys.argv) >= 6:
        run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    elif sys.argv[1:2] == ["report"] and len(sys.argv) in (3, 5):
        report(sys.argv[2], *(float(x) for x in sys.argv[3:5]))
    else:
        sys.exit(__doc__)
