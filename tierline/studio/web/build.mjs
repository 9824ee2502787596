// The studio's assets: src/ bundled by esbuild into ../static (committed, shipped in the
// wheel). Deterministic: the same sources and lockfile give byte-identical files, which
// `make studio-assets-check` verifies. `node build.mjs OUTDIR` builds elsewhere.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, "..", "static");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  legalComments: "eof",
  charset: "utf8",
  outfile: join(out, "studio.js"),
  logLevel: "warning",
});
for (const name of ["index.html", "studio.css"]) {
  copyFileSync(join(here, "src", name), join(out, name));
}
// the guide for rule owners, linked from the page's help, ships with the page
const docs = join(here, "..", "..", "..", "docs");
for (const name of ["authoring.md", "authoring.de.md"]) {
  copyFileSync(join(docs, name), join(out, name));
}
