#!/usr/bin/env node
// Runs every test file (test/, packages/*/test/) with Node's test runner and tsx.
// Extra arguments are passed through (e.g. a file path to run just that file).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = ['test', ...readdirSync('packages').map((p) => join('packages', p, 'test'))];
const files = [];
function walk(dir) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.test\.ts$/.test(e)) files.push(p);
  }
}
const args = process.argv.slice(2);
const explicit = args.filter((a) => !a.startsWith('-'));
if (explicit.length) files.push(...explicit);
else roots.forEach(walk);
files.sort();

const store = process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded SQLite';
console.log(`symbolon tests: ${files.length} files on ${store}`);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...args.filter((a) => a.startsWith('-')), ...files], {
  stdio: 'inherit',
  env: { ...process.env, NODE_NO_WARNINGS: '1' },
});
process.exit(r.status ?? 1);
