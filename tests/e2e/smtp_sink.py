#!/usr/bin/env python3
"""An SMTP server that keeps every message it receives (Debian's python3-aiosmtpd).

Usage: smtp_sink.py [BIND_ADDRESS] [PORT] [OUT_DIR]

Accepts mail for anyone (no TLS, no authentication: a lab sink) and prints
one line per message. With OUT_DIR, writes each message as
OUT_DIR/<n>.eml (exactly as received) and appends one JSON line to
OUT_DIR/messages.jsonl: received_at, mail_from, rcpt_tos, the headers
Subject/From/To/Date/Content-Type, and the text/plain and text/html parts.
dev's environment file sends its e-mail receiver to 10.77.0.1:2525.
"""
import email
import email.policy
import json
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

BIND = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 2525
OUT = Path(sys.argv[3]) if len(sys.argv) > 3 else None
lock = threading.Lock()
count = 0


class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = {}
        for part in msg.walk():
            ctype = part.get_content_type()
            if ctype in ("text/plain", "text/html") and ctype not in parts:
                parts[ctype] = part.get_content()
        record = {
            "received_at": time.time(),
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {h: str(msg.get(h, "")) for h in ("Subject", "From", "To", "Date", "Message-Id", "Content-Type")},
            "text": parts.get("text/plain", ""),
            "html": parts.get("text/html", ""),
        }
        with lock:
            count += 1
            n = count
            if OUT:
                OUT.mkdir(parents=True, exist_ok=True)
                (OUT / f"{n}.eml").write_bytes(raw)
                with open(OUT / "messages.jsonl", "a") as f:
                    f.write(json.dumps(dict(record, file=f"{n}.eml")) + "\n")
        print(f"{time.strftime('%H:%M:%S')} mail {n} to {','.join(envelope.rcpt_tos)}: {record['headers']['Subject']}", flush=True)
        return "250 Message accepted for delivery"


controller = Controller(Handler(), hostname=BIND, port=PORT, decode_data=False)
controller.start()
print(f"smtp_sink: listening on {BIND}:{PORT}", flush=True)
try:
    threading.Event().wait()
except KeyboardInterrupt:
    pass
finally:
    controller.stop()
