#!/usr/bin/env bash
# HA failover on staging: the harness's checks staging-failover
# (tests/e2e/checks/), with the environment's cold up and its destroy, run by
# tests/e2e/harness.sh. The whole suite runs every check on one up of dev and
# one of staging: tests/e2e/harness.sh (tests/run does).
exec "$(dirname "$0")/harness.sh" staging-failover "$@"
