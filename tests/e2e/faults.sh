#!/usr/bin/env bash
# faults on lab machines (interrupts, hang-up, closed output, dead machines, changed host key): the harness's check faults (planned on staging)
# (tests/e2e/checks/), with the environment's cold up and its destroy, run by
# tests/e2e/harness.sh. The whole suite runs every check on one up of dev and
# one of staging: tests/e2e/harness.sh (tests/run does).
exec "$(dirname "$0")/harness.sh" faults "$@"
