/**
 * Root-key escrow (docs/backup.md "Root-key escrow"): `symbolon operator
 * escrow split` prints Shamir shares of the root key file, `combine` rebuilds
 * it from any threshold of them (stdin).
 *
 *  - every set of M of the N shares rebuilds the identical key file, and a
 *    server started on the rebuilt key opens the store the original sealed;
 *  - M-1 shares are refused, and nothing is written;
 *  - a mistyped share (its check digits fail) is refused; a share altered
 *    with its check recomputed rebuilds a different key, which is refused by
 *    its fingerprint; shares of two keys are refused; nothing is written;
 *  - an existing root key file is never replaced.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { operatorCommand, shareLine } from '../src/cli/operator.js';
import { loadFileRoot } from '../src/root/file-root.js';
import { sealingContext } from '../src/root/root-of-trust.js';

async function op(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await operatorCommand(args, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: options.env ?? {},
    stdin: async () => options.stdin ?? '',
  });
  return { code, out, err };
}

/** Every k-subset of `items`. */
function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

describe('root-key escrow', () => {
  const dirs: string[] = [];
  const fresh = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'symbolon-escrow-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const source = fresh();
  const keyHex = randomBytes(32).toString('hex');
  writeFileSync(join(source, 'root.key'), `${keyHex}\n`, { mode: 0o600 });
  let shares: string[] = [];

  test('split prints N shares; every M of them rebuild the identical key file, which opens what the original sealed', async () => {
    const r = await op(['escrow', 'split', '--shares', '5', '--threshold', '3', '--data', source]);
    assert.equal(r.code, 0, r.err);
    shares = r.out.trim().split('\n');
    assert.equal(shares.length, 5);
    assert.equal(new Set(shares).size, 5);
    for (const s of shares) assert.match(s, /^symbolon-root-share-v1-[0-9a-f]{16}-[0-9a-f]{66}-[0-9a-f]{8}$/);
    // The key itself is not printed, and nothing was written.
    assert.ok(!r.out.includes(keyHex) && !r.err.includes(keyHex));
    const sealed = loadFileRoot({ dataDir: source })
      .root.legacySealer()
      .seal(new TextEncoder().encode('sealed before the loss'), sealingContext('escrow-test'));
    const all = subsets([0, 1, 2, 3, 4], 3);
    assert.equal(all.length, 10);
    for (const subset of all) {
      const target = fresh();
      const c = await op(['escrow', 'combine', '--data', target], { stdin: `${subset.map((i) => shares[i]).join('\n')}\n` });
      assert.equal(c.code, 0, `${subset}: ${c.err}`);
      assert.equal(readFileSync(join(target, 'root.key'), 'utf8'), `${keyHex}\n`);
      assert.equal(statSync(join(target, 'root.key')).mode & 0o777, 0o600);
      const opened = loadFileRoot({ dataDir: target, storeSealed: true }).root.legacySealer().open(sealed, sealingContext('escrow-test'));
      assert.equal(new TextDecoder().decode(opened), 'sealed before the loss');
    }
    // More than M work too.
    const target = fresh();
    assert.equal((await op(['escrow', 'combine', '--data', target], { stdin: shares.join('\n') })).code, 0);
    assert.equal(readFileSync(join(target, 'root.key'), 'utf8'), `${keyHex}\n`);
  });

  test('M-1 shares are refused and nothing is written', async () => {
    for (const subset of subsets([0, 1, 2, 3, 4], 2)) {
      const target = fresh();
      const c = await op(['escrow', 'combine', '--data', target], { stdin: subset.map((i) => shares[i]).join('\n') });
      assert.equal(c.code, 1);
      assert.match(c.err, /do not rebuild root key [0-9a-f]{16}: too few shares/);
      assert.equal(existsSync(join(target, 'root.key')), false);
    }
  });

  test('a mistyped or altered share, or shares of two keys, are refused and nothing is written', async () => {
    const target = fresh();
    // A typo: the check digits catch it.
    const typo = shares[0]!.replace(/-([0-9a-f])/, (_m, c: string) => `-${c === '0' ? '1' : '0'}`);
    const t = await op(['escrow', 'combine', '--data', target], { stdin: [typo, shares[1], shares[2]].join('\n') });
    assert.equal(t.code, 1);
    assert.match(t.err, /share 1 is damaged or mistyped/);
    // Altered on purpose, with its check recomputed: the rebuilt key's fingerprint differs.
    const m = /^symbolon-root-share-v1-([0-9a-f]{16})-([0-9a-f]{66})-[0-9a-f]{8}$/.exec(shares[1]!)!;
    const bytes = Buffer.from(m[2]!, 'hex');
    bytes[3] = bytes[3]! ^ 0x40;
    const altered = shareLine(m[1]!, bytes);
    const a = await op(['escrow', 'combine', '--data', target], { stdin: [shares[0], altered, shares[2]].join('\n') });
    assert.equal(a.code, 1);
    assert.match(a.err, /a share was altered/);
    // Shares of another key.
    const other = fresh();
    writeFileSync(join(other, 'root.key'), `${randomBytes(32).toString('hex')}\n`);
    const otherShares = (await op(['escrow', 'split', '--shares', '3', '--threshold', '2', '--data', other])).out.trim().split('\n');
    const mixed = await op(['escrow', 'combine', '--data', target], { stdin: [shares[0], otherShares[1]].join('\n') });
    assert.equal(mixed.code, 1);
    assert.match(mixed.err, /belongs to another root key/);
    assert.equal(existsSync(join(target, 'root.key')), false);
    // The same share twice is not two shares.
    const twice = await op(['escrow', 'combine', '--data', target], { stdin: [shares[0], shares[0], shares[1]].join('\n') });
    assert.equal(twice.code, 1);
    assert.equal(existsSync(join(target, 'root.key')), false);
  });

  test('an existing root key file is never replaced; bad arguments are usage errors', async () => {
    const before = createHash('sha256')
      .update(readFileSync(join(source, 'root.key')))
      .digest('hex');
    const c = await op(['escrow', 'combine', '--data', source], { stdin: shares.join('\n') });
    assert.equal(c.code, 2);
    assert.match(c.err, /exists; a root key file is never replaced/);
    assert.equal(
      createHash('sha256')
        .update(readFileSync(join(source, 'root.key')))
        .digest('hex'),
      before,
    );
    assert.equal((await op(['escrow', 'split', '--shares', '2', '--threshold', '3', '--data', source])).code, 2);
    assert.equal((await op(['escrow', 'split', '--shares', '3', '--threshold', '1', '--data', source])).code, 2);
    assert.equal((await op(['escrow', 'split', '--shares', '3', '--threshold', '2', '--data', fresh()])).code, 2);
    // SYMBOLON_ROOT_KEY is split when set, as the server would use it.
    const env = await op(['escrow', 'split', '--shares', '2', '--threshold', '2', '--data', fresh()], { env: { SYMBOLON_ROOT_KEY: keyHex } });
    assert.equal(env.code, 0);
    const target = fresh();
    assert.equal((await op(['escrow', 'combine', '--data', target], { stdin: env.out })).code, 0);
    assert.equal(readFileSync(join(target, 'root.key'), 'utf8'), `${keyHex}\n`);
  });
});
