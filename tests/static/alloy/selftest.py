#!/usr/bin/env python3
"""Shows that check.py catches what it must, on a configuration rendered by
the alloy role (configs.sh passes dev's app-1 config.alloy): the file as
rendered passes; each mutation below (a misspelled component, argument,
nested block or export, a missing comma, a missing required argument, a
value the reference does not allow, an unterminated string) is refused with
a message naming it. A check that let one through would be no guard.

    selftest.py CONFIG.alloy
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import check_text  # noqa: E402

# (what, text to replace, replacement, words the refusal must contain)
MUTATIONS = [
    ("misspelled component", 'loki.source.file "orders_api"', 'loki.source.files "orders_api"',
     "unknown component or block 'loki.source.files'"),
    ("misspelled argument", "legacy_positions_file =", "legacy_position_file =",
     "unknown argument 'legacy_position_file'"),
    ("misspelled nested block", "basic_auth {", "basic_auht {", "unknown block 'basic_auht'"),
    ("misspelled config block argument", 'level  = "', 'levl  = "', "unknown argument 'levl'"),
    ("misspelled export", "loki.write.loki.receiver", "loki.write.loki.reciever", "not 'reciever'"),
    ("reference to no component", "loki.process.orders_api.receiver", "loki.process.orders.receiver",
     "names no component of this file"),
    ("missing comma between object fields", 'ts     = "ts",', 'ts     = "ts"', "missing ',' between fields"),
    ("missing required argument", "  forward_to            = [loki.process.orders_api.receiver]\n", "",
     "required argument 'forward_to' missing"),
    ("value not allowed", 'action_on_failure = "fudge"', 'action_on_failure = "fudg"', "allowed: skip, fudge"),
    ("unterminated string", 'format            = "RFC3339Nano"', 'format            = "RFC3339Nano', "unterminated string"),
    ("stage misspelled", "stage.timestamp {", "stage.timestmp {", "unknown block 'stage.timestmp'"),
]


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    text = Path(argv[1]).read_text()
    failed = 0
    problems = check_text(text)
    if problems:
        print("alloy selftest: FAILED: the rendered file itself is refused:\n  " + "\n  ".join(problems), file=sys.stderr)
        failed += 1
    for what, old, new, expected in MUTATIONS:
        if text.count(old) < 1:
            print(f"alloy selftest: FAILED: {what}: {old!r} is not in {argv[1]} (update the mutation)", file=sys.stderr)
            failed += 1
            continue
        got = check_text(text.replace(old, new, 1))
        if any(expected in p for p in got):
            print(f"alloy selftest: {what}: refused ({next(p for p in got if expected in p).split(': ', 1)[-1]})")
        else:
            print(f"alloy selftest: FAILED: {what}: not refused with {expected!r}; got {got}", file=sys.stderr)
            failed += 1
    print(f"alloy selftest: {len(MUTATIONS) + 1 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
