// Compile contracts/src/*.sol with the npm `solc` pinned in package.json and write contracts/artifacts/*.json.
//
// Why a node script: the compiler comes from the lockfile (no download at build time), and the committed
// artifacts mean the Python runtime never needs a compiler. `--check` recompiles and exits 1 if any committed
// artifact differs, which tests/contracts/test_artifacts.py runs.
//
//   node contracts/build.mjs            # rewrite the artifacts
//   node contracts/build.mjs --check    # verify they are current
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const here = dirname(fileURLToPath(import.meta.url));
const srcDir = join(here, "src");
const outDir = join(here, "artifacts");
const check = process.argv.includes("--check");

const settings = {
  evmVersion: "prague",
  optimizer: { enabled: true, runs: 200 },
  metadata: { bytecodeHash: "none" },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

const files = readdirSync(srcDir).filter((f) => f.endsWith(".sol")).sort();
const sources = Object.fromEntries(files.map((f) => [f, { content: readFileSync(join(srcDir, f), "utf8") }]));
const output = JSON.parse(solc.compile(JSON.stringify({ language: "Solidity", sources, settings })));

const errors = (output.errors ?? []).filter((e) => e.severity === "error");
for (const e of output.errors ?? []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(2);

const sha256 = (text) => createHash("sha256").update(text, "utf8").digest("hex");
const { outputSelection, ...recorded } = settings;
let stale = 0;
if (!check && !existsSync(outDir)) mkdirSync(outDir);
for (const file of files) {
  for (const [name, c] of Object.entries(output.contracts[file] ?? {})) {
    if (name !== file.replace(/\.sol$/, "") || c.evm.bytecode.object === "") continue; // one deployable per file
    const artifact = {
      contractName: name,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      solcVersion: solc.version(),
      settings: recorded,
      sourceSha256: sha256(sources[file].content),
    };
    const text = JSON.stringify(artifact, null, 2) + "\n";
    const path = join(outDir, `${name}.json`);
    if (check) {
      if (!existsSync(path) || readFileSync(path, "utf8") !== text) {
        console.error(`stale artifact: ${path}`);
        stale += 1;
      }
    } else {
      writeFileSync(path, text);
      console.log(`wrote ${path} (${c.evm.deployedBytecode.object.length / 2} bytes deployed)`);
    }
  }
}
process.exit(stale === 0 ? 0 : 1);
