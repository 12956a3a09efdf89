#!/usr/bin/env python3
"""An HTTP sink for Alertmanager's notifications: webhook, Slack-compatible
chat and PagerDuty Events API v2, told apart by the path.

Usage: webhook_sink.py [BIND_ADDRESS] [PORT] [OUT_FILE]

  POST /alerts     Alertmanager's webhook JSON (any path but the two below)
  POST /slack      a Slack incoming-webhook message: {"attachments": [...]}
                   or {"text": ...}; answers 200 "ok" as Slack does
  POST /pagerduty  a PagerDuty Events API v2 event: routing_key,
                   event_action (trigger|acknowledge|resolve), dedup_key, and
                   for trigger payload.summary/source/severity; answers 202
                   {"status": "success", ...} as PagerDuty does

A request that breaks its protocol is answered 400 (Alertmanager then counts
a failed notification). Prints one line per notification and, when OUT_FILE
is given, appends each (the JSON body plus "kind", "path" and the time it
arrived, "received_at") to it as one JSON line. dev's environment file points
its receivers at 10.77.0.1:9099.

SINK_ROUTES="CIDR=FILE ..." (tests/e2e/harness.sh) lets one sink serve several
lab environments: a notification sent from an address in CIDR goes to FILE
instead of OUT_FILE (each record also carries "remote", the sender's address).
"""
import ipaddress
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIND = sys.argv[1] if len(sys.argv) > 1 else "0.0.0.0"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 9099
OUT = sys.argv[3] if len(sys.argv) > 3 else None
SEVERITIES = {"critical", "error", "warning", "info"}
ROUTES = [(ipaddress.ip_network(net), path) for net, path in
          (r.split("=", 1) for r in os.environ.get("SINK_ROUTES", "").split())]


def out_file(remote):
    addr = ipaddress.ip_address(remote)
    return next((path for net, path in ROUTES if addr in net), OUT)


def check_slack(msg):
    if not isinstance(msg.get("attachments"), list) and not msg.get("text"):
        return "a Slack message needs `attachments` or `text`"
    for a in msg.get("attachments") or []:
        if not (a.get("title") or a.get("text") or a.get("fallback")):
            return "an attachment without title, text or fallback"
    return None


def check_pagerduty(ev):
    if not ev.get("routing_key"):
        return "routing_key is missing"
    if ev.get("event_action") not in ("trigger", "acknowledge", "resolve"):
        return f"event_action {ev.get('event_action')!r} is not trigger, acknowledge or resolve"
    if not ev.get("dedup_key") and ev["event_action"] != "trigger":
        return "dedup_key is needed to acknowledge or resolve"
    if ev["event_action"] == "trigger":
        p = ev.get("payload") or {}
        for k in ("summary", "source", "severity"):
            if not p.get(k):
                return f"payload.{k} is missing"
        if p["severity"] not in SEVERITIES:
            return f"payload.severity {p['severity']!r} is not one of {sorted(SEVERITIES)}"
        if len(p["summary"]) > 1024:
            return "payload.summary is longer than 1024 characters"
    return None


def describe(kind, body):
    if kind == "slack":
        a = (body.get("attachments") or [{}])[0]
        return f"chat {body.get('channel', '')}: {a.get('title') or body.get('text', '')}"
    if kind == "pagerduty":
        return f"pagerduty {body['event_action']} {body.get('dedup_key', '')[:12]}: {(body.get('payload') or {}).get('summary', '')}"
    alerts = ", ".join(f"{a['labels'].get('alertname')}[{a['status']}]" for a in body.get("alerts", []))
    return f"webhook {body.get('status')}: {alerts}"


class Handler(BaseHTTPRequestHandler):
    def answer(self, code, body=b"", ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            payload = json.loads(body)
        except ValueError:
            return self.answer(400, b"invalid JSON")
        path = self.path.split("?")[0].rstrip("/")
        kind = {"/slack": "slack", "/pagerduty": "pagerduty"}.get(path, "webhook")
        problem = {"slack": check_slack, "pagerduty": check_pagerduty}.get(kind, lambda _: None)(payload)
        if problem:
            print(f"{time.strftime('%H:%M:%S')} REFUSED {kind}: {problem}", flush=True)
            return self.answer(400, problem.encode())
        remote = self.client_address[0]
        record = dict(payload, kind=kind, path=path, received_at=time.time(), remote=remote)
        print(f"{time.strftime('%H:%M:%S')} {remote} {describe(kind, payload)}", flush=True)
        out = out_file(remote)
        if out:
            with open(out, "a") as f:
                f.write(json.dumps(record) + "\n")
        if kind == "slack":
            return self.answer(200, b"ok")
        if kind == "pagerduty":
            reply = {"status": "success", "message": "Event processed", "dedup_key": payload.get("dedup_key", "")}
            return self.answer(202, json.dumps(reply).encode(), "application/json")
        return self.answer(200)

    def log_message(self, *args):
        pass


ThreadingHTTPServer((BIND, PORT), Handler).serve_forever()
