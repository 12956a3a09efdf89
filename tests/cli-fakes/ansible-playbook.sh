#!/bin/sh
# A fake `ansible-playbook` for obsctl's CLI tests of the configure half
# (tests/cli.rs), installed as the venv's. It records each call and plays a
# run that changes one task on each host of the fixture contract:
#
#   $OBSCTL_FAKE/ansible-calls   one line per call: its arguments
#   $OBSCTL_FAKE/ansible.sh      if present, sourced first (may `exit` to
#                                play a failure instead)
#
# Task events go to $OBSCTL_ANSIBLE_EVENTS as the callback plugin writes them.
printf '%s\n' "$*" >> "$OBSCTL_FAKE/ansible-calls"
if [ -f "$OBSCTL_FAKE/ansible.sh" ]; then
  . "$OBSCTL_FAKE/ansible.sh"
fi
echo "PLAY [all] *******************************************************************"
echo "TASK [prometheus : Write prometheus.yml] *************************************"
echo "changed: [mon-1]"
echo "changed: [app-1]"
for host in mon-1 app-1; do
  printf '{"host": "%s", "task": "prometheus : Write prometheus.yml", "status": "ok", "changed": true, "managed": []}\n' "$host" >> "$OBSCTL_ANSIBLE_EVENTS"
done
echo "PLAY RECAP *******************************************************************"
echo "app-1                      : ok=1    changed=1    unreachable=0    failed=0    skipped=0"
echo "mon-1                      : ok=1    changed=1    unreachable=0    failed=0    skipped=0"
