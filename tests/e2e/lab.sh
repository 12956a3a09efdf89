#!/usr/bin/env bash
# the end-to-end test on dev (cold up, targets, auth, alerts to four receivers, silence, no-op up, drift, destroy): the harness's checks dev-lab-alerts dev-noop dev-drift
# (tests/e2e/checks/), with the environment's cold up and its destroy, run by
# tests/e2e/harness.sh. The whole suite runs every check on one up of dev and
# one of staging: tests/e2e/harness.sh (tests/run does).
exec "$(dirname "$0")/harness.sh" dev-lab-alerts dev-noop dev-drift "$@"
