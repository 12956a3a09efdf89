# Writes one JSON line per finished task and host to the file named by
# $OBSCTL_ANSIBLE_EVENTS (if set): host, task, status, changed, seconds.
# obsctl reads it for progress and timings; the human output is untouched.
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
        self._out.write(json.dumps({
            "host": host,
            "task": task.get_name(),
            "status": status,
            "changed": bool(result._result.get("changed", False)),
            "seconds": round(time.time() - start, 3),
        }) + "\n")

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
