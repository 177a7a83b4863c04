// Bundles the dispatcher page (web/src) into api/web/, which the API serves at "/":
// api/web/index.html and api/web/assets/<name>-<hash>.{js,css} (content-hashed: the API caches assets for a year).
// Deterministic: the same sources and lockfile give the same files (no timestamps).
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "api", "web");
const assets = join(out, "assets");
rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await build({
  entryPoints: { app: join(root, "web", "src", "app.js") },
  bundle: true,
  splitting: true, // Leaflet is loaded only when WebGL is missing
  format: "esm",
  target: ["chrome111", "firefox115", "safari16.4"],
  minify: true,
  legalComments: "eof",
  outdir: assets,
  entryNames: "[name]-[hash]",
  chunkNames: "chunk-[hash]",
  assetNames: "[name]-[hash]",
  loader: { ".png": "dataurl", ".svg": "dataurl" },
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.entries(result.metafile.outputs);
const entry = outputs.find(([, o]) => o.entryPoint && o.entryPoint.endsWith("app.js"));
const appJs = basename(entry[0]);
const appCss = basename(entry[1].cssBundle);

// MapLibre GL 6 starts its module worker from a script of the same origin; the page tells it where.
const workerSrc = join(root, "node_modules", "maplibre-gl", "dist", "maplibre-gl-worker.mjs");
const workerHash = createHash("sha256").update(readFileSync(workerSrc)).digest("hex").slice(0, 8).toUpperCase();
const worker = `maplibre-gl-worker-${workerHash}.js`;
copyFileSync(workerSrc, join(assets, worker));

const html = readFileSync(join(root, "web", "src", "index.html"), "utf8")
  .replaceAll("%APP_JS%", `assets/${appJs}`)
  .replaceAll("%APP_CSS%", `assets/${appCss}`)
  .replaceAll("%MAPLIBRE_WORKER%", `assets/${worker}`);
writeFileSync(join(out, "index.html"), html);
console.log(`built api/web/index.html and ${readdirSync(assets).length} files in api/web/assets/`);
