// Checks every Mermaid block of the given Markdown files with mermaid.parse,
// under jsdom (no browser), and reports EVERY broken block with its file and
// line, where mmdc would stop at the first one.
//
//   node tests/docs/parse.mjs docs/*.md
//
// Exit 0: all blocks parse. Exit 1: at least one does not, or a file has no
// closing fence. Exit 2: bad usage.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { JSDOM } from "jsdom";
import { blocks } from "./blocks.mjs";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node parse.mjs FILE.md...");
  process.exit(2);
}

// mermaid (and DOMPurify inside it) expects a browser-like global scope.
const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
for (const name of ["window", "document", "navigator", "Element", "HTMLElement", "SVGElement", "Node", "DOMParser", "XMLSerializer"]) {
  if (globalThis[name] === undefined) {
    Object.defineProperty(globalThis, name, { value: dom.window[name], configurable: true, writable: true });
  }
}
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });

let total = 0;
const broken = [];
for (const path of files) {
  const file = relative(process.cwd(), path) || path;
  const { blocks: found, problems } = blocks(readFileSync(path, "utf8"), file);
  broken.push(...problems);
  for (const b of found) {
    total++;
    try {
      await mermaid.parse(b.code);
    } catch (err) {
      const message = String(err?.message ?? err).trim();
      // "Parse error on line N:" counts from the first line inside the fence.
      const m = /line (\d+)/i.exec(message);
      const at = m ? b.line + Number(m[1]) : b.line;
      const kind = (b.code.trim().split(/\s/)[0] || "?").trim();
      broken.push(`${file}:${at}: ${kind} block opened at line ${b.line} does not parse:\n    ${message.split("\n").join("\n    ")}`);
    }
  }
}

if (broken.length > 0) {
  console.error(broken.join("\n"));
  console.error(`parse: ${broken.length} broken of ${total} Mermaid blocks in ${files.length} files`);
  process.exit(1);
}
console.log(`parse: all ${total} Mermaid blocks in ${files.length} files parse`);
