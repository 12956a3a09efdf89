// Parses Terraform files with HashiCorp's HCL parser (@cdktf/hcl2json, the Go
// hcl library built to WebAssembly) and prints {file: parsed JSON} for every
// file given. tests/docs/drift.py reads the stacks and modules through it.
//
//   node tests/docs/hcl.mjs terraform/stacks/aws/main.tf ...
import { readFileSync } from "node:fs";
import { parse } from "@cdktf/hcl2json";

const out = {};
for (const file of process.argv.slice(2)) out[file] = await parse(file, readFileSync(file, "utf8"));
console.log(JSON.stringify(out));
