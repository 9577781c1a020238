/**
 * kms_share_generations on each dialect (src/storage/share-generations.repository.ts):
 * a row is created once, raised only by a compare-and-set from the generation it
 * was read at, never lowered; of concurrent raises from one generation exactly
 * one commits — on PostgreSQL through separate pooled connections, and through
 * two stores (two connection pools, as two processes have) over one schema.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { dropPgSchema, openStore, type Store } from '../src/storage/database.js';
import { findShareGeneration, insertShareGeneration, raiseShareGeneration, type ShareGenerationRow } from '../src/storage/share-generations.repository.js';

const PG_URL = process.env.DATABASE_URL;

describe(`kms_share_generations on ${PG_URL ? 'PostgreSQL' : 'SQLite'}`, () => {
  let dir: string;
  let schema: string | undefined;
  let one: Store;
  let two: Store;

  const row = (generation: number, digest: string, keyId = 'key-1', address = '0xAbC'): ShareGenerationRow => ({
    keyId,
    address,
    generation,
    shareADigest: digest.repeat(64).slice(0, 64),
    updatedAt: 1_700_000_000_000 + generation,
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'share-gen-'));
    schema = PG_URL ? `t_${randomBytes(6).toString('hex')}` : undefined;
    const open = () => (PG_URL ? openStore({ databaseUrl: PG_URL, pgSchema: schema }) : openStore({ sqliteFile: join(dir, 'symbolon.db') }));
    one = await open();
    two = await open();
  });

  after(async () => {
    await one?.close();
    await two?.close();
    if (PG_URL && schema) await dropPgSchema(PG_URL, schema);
    rmSync(dir, { recursive: true, force: true });
  });

  test('created once; raised from the generation read; never lowered', async () => {
    assert.equal(await findShareGeneration(one.db, 'key-1', '0xAbC'), undefined);
    assert.equal(await insertShareGeneration(one.db, row(0, 'a')), true);
    assert.equal(await insertShareGeneration(two.db, row(3, 'b')), false, 'a second creation changes nothing');
    assert.deepEqual(await findShareGeneration(two.db, 'key-1', '0xAbC'), row(0, 'a'));

    assert.equal(await raiseShareGeneration(one.db, 1, row(2, 'c')), false, 'not read at generation 1');
    assert.equal(await raiseShareGeneration(one.db, 0, row(0, 'c')), false, 'not a raise');
    assert.equal(await raiseShareGeneration(one.db, 0, row(2, 'c')), true);
    assert.equal(await raiseShareGeneration(two.db, 2, row(1, 'd')), false, 'never lowered');
    assert.deepEqual(await findShareGeneration(one.db, 'key-1', '0xAbC'), row(2, 'c'));
    // Another address or key is another row; the address is compared exactly (the checksummed form is the share's).
    assert.equal(await findShareGeneration(one.db, 'key-1', '0xabc'), undefined);
    assert.equal(await findShareGeneration(one.db, 'key-2', '0xAbC'), undefined);
  });

  test('of concurrent raises from one generation over two stores, exactly one commits', async () => {
    assert.equal(await insertShareGeneration(one.db, row(5, 'e', 'key-race')), true);
    const digests = 'abcdef0123456789'.split('');
    const results = await Promise.all(digests.map((d, i) => raiseShareGeneration(i % 2 ? two.db : one.db, 5, row(6, d, 'key-race'))));
    assert.equal(results.filter(Boolean).length, 1);
    const winner = digests[results.indexOf(true)]!;
    assert.deepEqual(await findShareGeneration(two.db, 'key-race', '0xAbC'), row(6, winner, 'key-race'));
  });
});
