// Builds the GraphiQL assets gqlwire ships: graphiql.js and graphiql.css, minified.
//
//   npm ci && npm run build            -> ../../src/gqlwire/graphiql_assets/
//   node build.mjs OUTDIR              -> OUTDIR (what the reproducibility check uses)
//
// esbuild writes the same bytes for the same inputs and the same esbuild version, and
// the lock file pins both; nothing here depends on the time, the machine or the path.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(process.argv[2] ?? path.join(here, "../../src/gqlwire/graphiql_assets"));

await build({
  absWorkingDir: here,
  entryPoints: { graphiql: "src/index.js" },
  outdir,
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  platform: "browser",
  define: { "process.env.NODE_ENV": '"production"' },
  // Licences of the bundled packages stay with the code they cover.
  legalComments: "eof",
  // Fonts and images referenced from CSS are inlined: the page loads nothing else.
  loader: { ".woff": "dataurl", ".woff2": "dataurl", ".ttf": "dataurl", ".svg": "dataurl", ".png": "dataurl" },
  charset: "utf8",
  sourcemap: false,
  logLevel: "warning",
});
console.log(`graphiql assets written to ${outdir}`);
