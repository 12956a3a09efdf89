// Parses LogQL with Grafana's own grammar (@grafana/lezer-logql, the parser
// of Grafana's Loki query editor). Reads a JSON array of {where, expr} on
// stdin; prints a JSON array of {where, expr, error} for every expression
// that does not parse (an empty array when all do). Grafana's built-in
// interval variables ($__interval, $__rate_interval, $__auto, $__range)
// are replaced by a duration first, as Grafana does before it sends a
// query; template variables ($host) may appear only inside strings.
//
//   echo '[{"where":"x","expr":"{job=\"a\"} |= \"b\""}]' | node tests/docs/logql.mjs
import { parser } from "@grafana/lezer-logql";

const BUILTIN = { __interval: "1m", __rate_interval: "1m", __auto: "1m", __range: "1h", __interval_ms: "60000" };

export function check(expr) {
  const text = expr.replace(/\$\{?(__\w+)\}?/g, (m, name) => BUILTIN[name] ?? m);
  const tree = parser.parse(text);
  let error = null;
  tree.iterate({
    enter(node) {
      if (error === null && node.type.isError) {
        const at = node.from;
        error = `does not parse at column ${at + 1}: ${JSON.stringify(text.slice(Math.max(0, at - 15), at))} ⟶ ${JSON.stringify(text.slice(at, at + 15))}`;
      }
    },
  });
  if (error === null && tree.topNode.firstChild?.name !== "Expr") error = "is not a LogQL expression";
  return error;
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const bad = [];
for (const q of JSON.parse(input)) {
  const error = check(q.expr);
  if (error) bad.push({ ...q, error });
}
console.log(JSON.stringify(bad));
