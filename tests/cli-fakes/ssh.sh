#!/bin/sh
# A fake `ssh` for obsctl's CLI tests of the configure half (tests/cli.rs).
# It records each call and answers as a converged host would:
#
#   $OBSCTL_FAKE/ssh-calls   one line per call: destination, tab, command
#   $OBSCTL_FAKE/ssh.sh      if present, sourced first (may `exit`, or set
#                            machine_id: the one every host reports)
#
# `true` (the host wait's login) succeeds; the drift check's command gets a
# machine id per destination, every service it names active and enabled,
# and its end marker; the summary's look at
# /etc/os-release gets Debian 13 with one Prometheus package, also when it
# follows the check in the same command (the fast path, record).
dest="" command=""
for arg in "$@"; do dest="$command"; command="$arg"; done
printf '%s\t%s\n' "$dest" "$command" >> "$OBSCTL_FAKE/ssh-calls"
if [ -f "$OBSCTL_FAKE/ssh.sh" ]; then
  . "$OBSCTL_FAKE/ssh.sh"
fi
case "$command" in
  *end-of-check*)
    printf 'machine-id\t%s\n' "${machine_id:-m-$dest}"
    # Every service the check asks about (the names systemctl show's awk
    # prints) runs, enabled.
    for s in $(printf '%s' "$command" | sed -n "s/.*awk -v names='\([^']*\)'.*/\1/p"); do
      printf 'service\t%s\tactive\tenabled\n' "$s"
    done
    printf 'end-of-check\n' ;;
esac
case "$command" in
  *os-release*) printf 'release\tDebian GNU/Linux 13 (trixie)\nversion_id\t13\nii \tprometheus\t3.5.0+ds-1\n' ;;
  *) : ;;
esac
exit 0
