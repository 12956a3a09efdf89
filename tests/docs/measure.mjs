// Measures every rendered diagram: its width and height at Mermaid's own
// font size (the SVG's viewBox), and whether a label was broken inside a
// word. A diagram wider than the limit would have its text shrunk below a
// readable size in a page column; split it or lay it out top-down. A diagram
// taller than MAX_HEIGHT does not fit on a screen; split it.
//
//   node tests/docs/measure.mjs MAX_WIDTH MAX_HEIGHT SVG_DIR PAGE.md...
//
// mmdc names the SVGs of PAGE.md PAGE-1.svg, PAGE-2.svg, … in block order.
// Prints one line per diagram; exit 1 when one is too wide, too tall or has a broken word.
import { readFileSync, existsSync } from "node:fs";
import { basename } from "node:path";
import { JSDOM } from "jsdom";
import { blocks } from "./blocks.mjs";

const [maxArg, maxHeightArg, dir, ...pages] = process.argv.slice(2);
const max = Number(maxArg);
const maxHeight = Number(maxHeightArg);
if (!max || !maxHeight || !dir || pages.length === 0) {
  console.error("usage: node measure.mjs MAX_WIDTH MAX_HEIGHT SVG_DIR PAGE.md...");
  process.exit(2);
}

const decode = (s) => s.replace(/#quot;/g, '"').replace(/#35;/g, "#").replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">");
const tokens = (s) => decode(s).split(/<br\s*\/?>|[\s"'`[\](){}<>|*_:,;.=\-–—→]+/).filter((t) => t.length > 1);

let bad = 0;
const rows = [];
for (const page of pages) {
  const name = basename(page, ".md");
  const found = blocks(readFileSync(page, "utf8"), page).blocks;
  found.forEach((b, i) => {
    const svgPath = `${dir}/${name}-${i + 1}.svg`;
    if (!existsSync(svgPath)) return;
    const svg = readFileSync(svgPath, "utf8");
    const doc = new JSDOM(svg, { contentType: "image/svg+xml" }).window.document;
    const vb = (doc.documentElement.getAttribute("viewBox") || "0 0 0 0").split(/\s+/).map(Number);
    const [w, h] = [Math.round(vb[2]), Math.round(vb[3])];
    const source = new Set(tokens(b.code));
    const broken = [];
    for (const text of doc.querySelectorAll("text")) {
      const lines = [...text.querySelectorAll("tspan.text-outer-tspan, tspan.row")].map((r) => r.textContent);
      const all = lines.length ? lines : [text.textContent];
      for (const line of all) {
        // Mermaid hyphenates a word it cannot fit: "moved-" then "]" on the next line.
        const hyphen = /(\w+)-\s*$/.exec(line);
        if (hyphen && !decode(b.code).includes(hyphen[0].trim())) broken.push(hyphen[0].trim());
        for (const t of tokens(line)) {
          if (!source.has(t) && [...source].some((s) => s.length > t.length && (s.startsWith(t) || s.endsWith(t)))) broken.push(t);
        }
      }
    }
    const where = `${page}:${b.line}`;
    const problems = [];
    if (w > max) problems.push(`${w} px wide, over ${max}`);
    if (h > maxHeight) problems.push(`${h} px tall, over ${maxHeight}`);
    if (broken.length) problems.push(`label broken inside a word: ${[...new Set(broken)].slice(0, 5).join(", ")}`);
    if (problems.length) bad++;
    rows.push(`${problems.length ? "FAIL" : "ok  "} ${String(w).padStart(5)} × ${String(h).padEnd(5)} ${where}${problems.length ? "  " + problems.join("; ") : ""}`);
  });
}
console.log(rows.join("\n"));
if (bad) {
  console.error(`measure: ${bad} diagrams too wide (over ${max} px at Mermaid's font size), too tall (over ${maxHeight} px) or with a word broken across lines`);
  process.exit(1);
}
console.log(`measure: all ${rows.length} diagrams within ${max} × ${maxHeight} px, no word broken`);
