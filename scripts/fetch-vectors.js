#!/usr/bin/env node
// Downloads the public test vectors the tests read (Wycheproof, ethereum/tests,
// ethers, the AWS SigV4 suite, LocalStack's recorded KMS responses, …) into
// $SYMBOLON_VECTORS (default ../shared/vectors beside the clone), exactly as
// test/helpers/vectors.ts looks for them: <folder>/<path in the repository>.
//
// Every file is listed in scripts/vectors-manifest.tsv with the repository and
// the commit it is pinned to, and is fetched from
// https://raw.githubusercontent.com/<repo>/<snapshot_head>/<path>; its size must
// match the manifest. Files already present are skipped, so a rerun resumes.
// local-captures/ and extracted/ are made on the machine that recorded them
// (see SOURCES.md) and cannot be downloaded: the script says so if they are absent.
//
// Usage: node scripts/fetch-vectors.js [--dry-run]
// Exit status: 0 when every file is present afterwards, 1 on any failure
// (network, HTTP status, size mismatch), 2 on a bad manifest or argument.
// Plain Node (>= 20) ESM with no dependencies: it runs before `npm install` too.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const MANIFEST = join(HERE, 'vectors-manifest.tsv');
const TARGET = resolve(process.env.SYMBOLON_VECTORS ?? join(HERE, '..', '..', 'shared', 'vectors'));
// Overridable only so the script can be exercised against a local mirror.
const BASE_URL = (process.env.SYMBOLON_VECTORS_BASE_URL ?? 'https://raw.githubusercontent.com').replace(/\/+$/, '');
const PARALLEL = 4;
const TIMEOUT_MS = 60_000;
const LOCAL_ONLY = {
  'local-captures': "requests recorded on this project's machine (awscli against a loopback stub)",
  extracted: 'vectors hand-extracted from EIP texts and test code, re-verified locally',
};

class ManifestError extends Error {}
class NetworkError extends Error {}

function parseManifest(text) {
  const rows = [];
  let columns;
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim() || line.startsWith('#')) continue;
    const cells = line.split('\t');
    if (!columns) {
      columns = cells;
      for (const c of ['folder', 'repo', 'path', 'snapshot_head', 'bytes']) {
        if (!columns.includes(c)) throw new ManifestError(`${MANIFEST}: header lacks the '${c}' column`);
      }
      continue;
    }
    const row = Object.fromEntries(columns.map((c, j) => [c, cells[j] ?? '']));
    const where = `${MANIFEST}:${i + 1}`;
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(row.folder)) throw new ManifestError(`${where}: bad folder`);
    if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(row.repo)) throw new ManifestError(`${where}: bad repo`);
    if (!/^[0-9a-f]{40}$/.test(row.snapshot_head)) throw new ManifestError(`${where}: snapshot_head must be a 40-hex commit`);
    if (!/^\d+$/.test(row.bytes)) throw new ManifestError(`${where}: bad bytes`);
    // A path may not climb out of its folder.
    if (!row.path || row.path.startsWith('/') || row.path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw new ManifestError(`${where}: bad path`);
    }
    const dest = join(TARGET, row.folder, ...row.path.split('/'));
    if (!dest.startsWith(TARGET + sep)) throw new ManifestError(`${where}: path leaves ${TARGET}`);
    const url = `${BASE_URL}/${row.repo}/${row.snapshot_head}/${row.path.split('/').map(encodeURIComponent).join('/')}`;
    rows.push({ ...row, bytes: Number(row.bytes), dest, url, label: `${row.folder}/${row.path}` });
  }
  if (!rows.length) throw new ManifestError(`${MANIFEST}: no files listed`);
  return rows;
}

/** Names the network-level cause undici hides behind "fetch failed". */
function describeCause(err) {
  const cause = err?.cause;
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return `no answer within ${TIMEOUT_MS / 1000} s`;
  if (cause?.code) return `${cause.code}${cause.hostname ? ` (${cause.hostname})` : ''}`;
  return cause?.message ?? err?.message ?? String(err);
}

async function download(row) {
  let res;
  try {
    res = await fetch(row.url, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'follow' });
  } catch (err) {
    throw new NetworkError(`could not reach ${new URL(row.url).host}: ${describeCause(err)}`);
  }
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText} for ${row.url}`);
  let body;
  try {
    body = Buffer.from(await res.arrayBuffer());
  } catch (err) {
    throw new NetworkError(`connection lost while downloading ${row.url}: ${describeCause(err)}`);
  }
  if (body.length !== row.bytes) throw new Error(`${row.label}: got ${body.length} bytes, the manifest says ${row.bytes}`);
  mkdirSync(dirname(row.dest), { recursive: true });
  // Write beside, then rename: an interrupted run never leaves a truncated file that a rerun would skip.
  const part = `${row.dest}.part`;
  writeFileSync(part, body);
  renameSync(part, row.dest);
}

async function main(argv) {
  const unknown = argv.filter((a) => a !== '--dry-run');
  if (unknown.length) {
    console.error(`fetch-vectors: unknown argument ${unknown[0]}\nUsage: node scripts/fetch-vectors.js [--dry-run]`);
    return 2;
  }
  const dryRun = argv.includes('--dry-run');
  let rows;
  try {
    rows = parseManifest(readFileSync(MANIFEST, 'utf8'));
  } catch (err) {
    console.error(`fetch-vectors: ${err.message}`);
    return 2;
  }

  const missing = [];
  let present = 0;
  for (const row of rows) {
    if (existsSync(row.dest)) {
      present++;
      const size = statSync(row.dest).size;
      if (size !== row.bytes) console.warn(`fetch-vectors: warning: ${row.label} is present but has ${size} bytes, the manifest says ${row.bytes}; left as is`);
    } else missing.push(row);
  }
  console.log(`fetch-vectors: ${rows.length} files in the manifest; ${present} already in ${TARGET}; ${missing.length} to fetch${dryRun ? ' (dry run)' : ''}`);

  let fetched = 0;
  const failures = [];
  let networkFailure;
  if (dryRun) {
    for (const row of missing) console.log(`would fetch ${row.label} <- ${row.url}`);
  } else {
    const queue = [...missing];
    const worker = async () => {
      for (let row = queue.shift(); row && !networkFailure; row = queue.shift()) {
        try {
          await download(row);
          fetched++;
          console.log(`fetched ${row.label} (${row.bytes} bytes)`);
        } catch (err) {
          rmSync(`${row.dest}.part`, { force: true });
          // Without a network every other file would fail the same way: stop at the first.
          if (err instanceof NetworkError) networkFailure = err;
          else failures.push(err.message);
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
  }

  for (const [folder, what] of Object.entries(LOCAL_ONLY)) {
    if (!existsSync(join(TARGET, folder))) console.log(`note: ${folder}/ cannot be downloaded: ${what}. Tests that need it say so and skip.`);
  }

  if (networkFailure) {
    console.error(
      `fetch-vectors: network failure: ${networkFailure.message}.\n` +
        `  ${fetched} files fetched before it; ${missing.length - fetched} still missing. Check the connection (Node's fetch ignores HTTP(S)_PROXY) and rerun: present files are kept.`,
    );
    return 1;
  }
  if (failures.length) {
    for (const f of failures) console.error(`fetch-vectors: failed: ${f}`);
    console.error(`fetch-vectors: ${failures.length} of ${missing.length} files failed; ${fetched} fetched.`);
    return 1;
  }
  if (!dryRun) console.log(`fetch-vectors: done; ${fetched} fetched, ${present} were already present.`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
