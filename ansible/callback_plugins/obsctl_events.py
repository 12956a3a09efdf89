# Writes one JSON line per finished task and host to the file named by
# $OBSCTL_ANSIBLE_EVENTS (if set): host, task, status, changed, seconds, and
# `managed`: what the task put in place, read from the task's own result
# (files with their SHA-1 checksums, directories, services, packages).
# obsctl reads it for progress and timings, and records `managed` as the
# state the hosts were converged to (src/state/converged.rs); the human output is
# untouched. A result hidden by no_log gives its destination only when the
# task names it literally, never any content.
import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: obsctl_events
type: aggregate
short_description: task events as JSON lines for obsctl
description: Appends one JSON object per finished task and host to $OBSCTL_ANSIBLE_EVENTS.
"""

FILE_MODULES = {"copy", "template"}
SERVICE_MODULES = {"systemd_service", "systemd", "service"}
PACKAGE_MODULES = {"apt"}
DIR_MODULES = {"file"}


def _short(action):
    return (action or "").rsplit(".", 1)[-1]


def _items(result):
    """The per-item results of a loop, or the result itself."""
    results = result.get("results")
    if isinstance(results, list):
        return [r for r in results if isinstance(r, dict)]
    return [result]


def _managed(action, result, args):
    """What one ok result of `action` put in place (a list of small dicts)."""
    out = []
    module = _short(action)
    censored = "censored" in result
    for r in _items(result):
        if r.get("skipped") or r.get("failed"):
            continue
        params = (r.get("invocation") or {}).get("module_args") or {}
        if module in FILE_MODULES:
            if "censored" in r or censored:
                dest = args.get("dest")
                literal = isinstance(dest, str) and "{{" not in dest and "{%" not in dest
                out.append({"kind": "file", "path": dest if literal else None, "checksum": None, "censored": True})
            elif r.get("dest") and r.get("checksum"):
                out.append({"kind": "file", "path": r["dest"], "checksum": r["checksum"]})
        elif module in DIR_MODULES:
            state = r.get("state") or params.get("state")
            path = r.get("path") or params.get("path")
            if state == "directory" and path:
                out.append({"kind": "directory", "path": path})
            elif state == "absent" and path:
                out.append({"kind": "absent", "path": path})
        elif module in SERVICE_MODULES:
            name = r.get("name") or params.get("name")
            state = params.get("state") or r.get("state")
            if name and state in ("started", "restarted", "reloaded"):
                out.append({"kind": "service", "name": name, "enabled": params.get("enabled")})
        elif module in PACKAGE_MODULES:
            names = params.get("name") or params.get("pkg") or []
            if isinstance(names, str):
                names = [names]
            if names and params.get("state", "present") in ("present", "latest", "installed"):
                out.append({"kind": "packages", "names": sorted(str(n) for n in names)})
    return out


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "obsctl_events"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self):
        super().__init__()
        path = os.environ.get("OBSCTL_ANSIBLE_EVENTS")
        self._out = open(path, "a", buffering=1) if path else None
        self._started = {}

    def _emit(self, result, status):
        if not self._out:
            return
        host = result._host.get_name()
        task = result._task
        start = self._started.get((host, task._uuid), time.time())
        event = {
            "host": host,
            "task": task.get_name(),
            "status": status,
            "changed": bool(result._result.get("changed", False)),
            "seconds": round(time.time() - start, 3),
        }
        if status == "ok":
            try:
                managed = _managed(task.action, result._result, task.args or {})
            except Exception as e:  # never break a run over bookkeeping; obsctl treats it as doubt
                managed = [{"kind": "unknown", "error": str(e)[:200]}]
            if managed:
                event["managed"] = managed
        self._out.write(json.dumps(event) + "\n")

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.time()

    def v2_runner_on_ok(self, result):
        self._emit(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._emit(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._emit(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._emit(result, "unreachable")
