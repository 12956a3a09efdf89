// The Mermaid blocks of a Markdown page (shared by parse.mjs and measure.mjs).

/** Mermaid blocks of a Markdown text: { line (1-based line of the opening fence), code }. */
export function blocks(text, file) {
  const out = [];
  const problems = [];
  const lines = text.split("\n");
  let open = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (open === null) {
      const m = /^(\s*)(`{3,}|~{3,})\s*mermaid\s*$/.exec(line);
      if (m) open = { line: i + 1, fence: m[2], body: [] };
    } else if (line.trim().startsWith(open.fence) && line.trim().replace(/[`~]/g, "") === "") {
      out.push({ line: open.line, code: open.body.join("\n") });
      open = null;
    } else {
      open.body.push(line);
    }
  }
  if (open !== null) problems.push(`${file}:${open.line}: mermaid block is never closed`);
  return { blocks: out, problems };
}
