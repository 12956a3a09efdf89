#!/usr/bin/env bash
# the fast path of up on dev: the harness's checks dev-fast-path
# (tests/e2e/checks/), with the environment's cold up and its destroy, run by
# tests/e2e/harness.sh. The whole suite runs every check on one up of dev and
# one of staging: tests/e2e/harness.sh (tests/run does).
exec "$(dirname "$0")/harness.sh" dev-fast-path "$@"
