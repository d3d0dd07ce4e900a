// Regenerate src/gen from ../protos with protoc-gen-es (protoc from the Python grpcio-tools
// wheel, so no extra binary download). Run: npm run gen   (the Python venv must exist: ./dev)
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const web = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const root = path.dirname(web);
const python = process.env.PYTHON || path.join(root, ".venv", "bin", "python");
const out = process.env.OUT || path.join(web, "src", "gen");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const wellKnown = execFileSync(python, ["-c", "import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), '_proto'))"]).toString().trim();
execFileSync(python, [
  "-m", "grpc_tools.protoc",
  `-I${path.join(root, "protos")}`,
  `-I${wellKnown}`,
  `--plugin=protoc-gen-es=${path.join(web, "node_modules", ".bin", "protoc-gen-es")}`,
  `--es_out=${out}`,
  "--es_opt=target=ts",
  "recorder/v1/common.proto", "recorder/v1/ingest.proto", "recorder/v1/catalog.proto",
  "recorder/v1/media.proto",
], { stdio: "inherit" });
console.log(`generated TypeScript into ${out}/`);
