#!/usr/bin/env python3
"""A webhook receiver for Alertmanager notifications.

Usage: webhook_sink.py [BIND_ADDRESS] [PORT] [OUT_FILE]

Prints one line per notification and, when OUT_FILE is given, appends each
notification (Alertmanager's JSON payload plus the time it arrived) to it as
one JSON line. dev's environment file points its receiver at 10.77.0.1:9099.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIND = sys.argv[1] if len(sys.argv) > 1 else "0.0.0.0"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 9099
OUT = sys.argv[3] if len(sys.argv) > 3 else None


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            payload = json.loads(body)
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        payload["received_at"] = time.time()
        alerts = ", ".join(
            f"{a['labels'].get('alertname')}[{a['status']}]" for a in payload.get("alerts", [])
        )
        print(f"{time.strftime('%H:%M:%S')} {payload.get('status')}: {alerts}", flush=True)
        if OUT:
            with open(OUT, "a") as f:
                f.write(json.dumps(payload) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer((BIND, PORT), Handler).serve_forever()
