#!/bin/sh
# A fake `ssh` for obsctl's CLI tests of the configure half (tests/cli.rs).
# It records each call and answers as a converged host would:
#
#   $OBSCTL_FAKE/ssh-calls   one line per call: destination, tab, command
#   $OBSCTL_FAKE/ssh.sh      if present, sourced first (may `exit`)
#
# `true` (the host wait's login) succeeds; the drift check's command gets a
# machine id per destination and its end marker.
dest="" command=""
for arg in "$@"; do dest="$command"; command="$arg"; done
printf '%s\t%s\n' "$dest" "$command" >> "$OBSCTL_FAKE/ssh-calls"
if [ -f "$OBSCTL_FAKE/ssh.sh" ]; then
  . "$OBSCTL_FAKE/ssh.sh"
fi
case "$command" in
  *end-of-check*) printf 'machine-id\tm-%s\nend-of-check\n' "$dest" ;;
  *) : ;;
esac
exit 0
