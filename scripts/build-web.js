#!/usr/bin/env node
// Bundles the browser code with esbuild's JS API: the wallet frame (web/frame),
// the example DApp (web/dapp) and the provider script (web/provider), each
// into web/dist/<name>/ with its index.html and stylesheet. Run by `npm run
// build:web`, `npm start` and the frame tests before serving. ESM (the
// provider script: a classic IIFE), ES2022, minified, with linked source maps.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const apps = [
  { name: 'frame', entry: 'web/frame/main.ts', bundle: 'frame.js', assets: ['index.html', 'frame.css'] },
  // The external-login popup's landing page (docs/frame.md), served beside the frame.
  { name: 'frame', entry: 'web/frame/oidc-callback.ts', bundle: 'oidc-callback.js', assets: ['oidc-callback.html'], sizeName: 'frame/oidc-callback' },
  { name: 'dapp', entry: 'web/dapp/main.ts', bundle: 'dapp.js', assets: ['index.html', 'dapp.css'] },
  // The provider script a DApp page includes with one <script src> tag (src/server/provider-script.ts):
  // a classic script (IIFE), so that document.currentScript names its tag.
  { name: 'sdk', entry: 'web/provider/main.ts', bundle: 'provider.js', assets: [], format: 'iife', sizeName: 'sdk/provider' },
];

/** A server may be reading web/dist while a test run rebuilds it: never let it see half a file. */
function writeAtomically(path, contents) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

/** Builds every app; returns the bundle sizes in bytes. */
export async function buildWeb({ quiet = false } = {}) {
  const sizes = {};
  for (const app of apps) {
    const out = join(root, 'web/dist', app.name);
    mkdirSync(out, { recursive: true });
    const result = await build({
      write: false,
      absWorkingDir: root,
      entryPoints: [app.entry],
      outfile: join(out, app.bundle),
      bundle: true,
      format: app.format ?? 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      sourcemap: 'linked',
      legalComments: 'linked',
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: quiet ? 'error' : 'warning',
    });
    for (const file of result.outputFiles) writeAtomically(file.path, file.contents);
    for (const asset of app.assets) writeAtomically(join(out, asset), readFileSync(join(root, 'web', app.name, asset)));
    sizes[app.sizeName ?? app.name] = result.outputFiles.find((f) => f.path.endsWith(app.bundle)).contents.length;
  }
  if (!quiet) for (const [name, size] of Object.entries(sizes)) console.log(`web/dist/${name}: ${(size / 1024).toFixed(1)} KiB`);
  return sizes;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildWeb().catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
}
