// Builds the unpacked extension into extension/dist (load that folder in chrome://extensions).
// The generated client and the Connect transport come from web/src and web/node_modules: one copy.
// Run from web/: npm run build:extension
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const web = path.join(here, "..", "web");
const { build } = createRequire(path.join(web, "package.json"))("esbuild");
const out = process.env.OUT || path.join(here, "dist");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["background", "offscreen", "popup", "options"].map((name) => path.join(here, "src", `${name}.ts`)),
  bundle: true,
  format: "esm",
  target: "chrome116",
  outdir: out,
  nodePaths: [path.join(web, "node_modules")],
  logLevel: "warning",
});
for (const file of ["manifest.json", "popup.html", "options.html", "offscreen.html", "style.css"]) {
  cpSync(path.join(here, file), path.join(out, file));
}
console.log(`extension built into ${out}/`);
