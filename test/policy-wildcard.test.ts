// Issue #12, item 5: IAM wildcard matching (Action, Resource, StringLike,
// ArnLike) must cost time linear in the value. A backtracking RegExp for
// `*-*-*-prod` cost O(n³): one Encrypt with a 1.6 KB encryption-context value
// held the whole server for seconds. Checked three ways: the matcher's step
// count grows linearly (n vs 4n) on the red team's pattern and on a
// pathological one; the new matcher agrees with the former RegExp translation
// on random small inputs (fast-check); and a real Encrypt against a key policy
// with `StringLike "*-*-*-prod"` costs about the same at 4n as at n.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CreateKeyCommand, EncryptCommand, GetKeyPolicyCommand, PutKeyPolicyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { compileWildcard, wildcardMatch, wildcardMatchCounted, type PatternPart } from '../src/aws/policy/wildcard.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** The former matcher (a RegExp translation), kept here as the oracle for the semantics. */
function oldCompile(pattern: string | readonly PatternPart[], caseInsensitive: boolean): RegExp {
  const parts = typeof pattern === 'string' ? [{ text: pattern, literal: false }] : pattern;
  const esc = (s: string) => s.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');
  let source = '';
  for (const p of parts) {
    if (p.literal) {
      source += esc(p.text);
      continue;
    }
    for (const ch of p.text) source += ch === '*' ? '[\\s\\S]*' : ch === '?' ? '[\\s\\S]' : esc(ch);
  }
  return new RegExp(`^${source}$`, caseInsensitive ? 'iu' : 'u');
}

/** The former `wildcardMatch`: a fast path for patterns without wildcards, else the RegExp. */
function oldWildcardMatch(pattern: string, value: string, caseInsensitive: boolean): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*') && !pattern.includes('?')) {
    return caseInsensitive ? pattern.toLowerCase() === value.toLowerCase() : pattern === value;
  }
  return oldCompile(pattern, caseInsensitive).test(value);
}

function steps(pattern: string, value: string): { matched: boolean; steps: number } {
  const counter = { steps: 0 };
  const matched = wildcardMatchCounted(pattern, value, false, counter);
  return { matched, steps: counter.steps };
}

describe('wildcard matching is linear in the value', () => {
  test("the red team's case: a 1.6 KB value against *-*-*-prod", () => {
    const value = (n: number) => 'a-'.repeat(n / 2) + 'dev';
    const small = steps('*-*-*-prod', value(1_600));
    const large = steps('*-*-*-prod', value(6_400));
    assert.equal(small.matched, false);
    assert.equal(large.matched, false);
    assert.ok(large.steps / small.steps < 4.5, `steps grew ${(large.steps / small.steps).toFixed(2)}x for 4x the value (${small.steps} -> ${large.steps})`);
    // Bounded by (n + 1) x (longest run between stars, 5) + pattern length.
    assert.ok(large.steps <= (6_403 + 1) * 5 + 10, `${large.steps} steps`);
    assert.equal(wildcardMatch('*-*-*-prod', `${value(1_600)}-prod`, false), true);
  });

  test('a pathological pattern (*a*a*a*a*a*a*b on a run of a)', () => {
    const pattern = '*a*a*a*a*a*a*b';
    const small = steps(pattern, 'a'.repeat(2_000));
    const large = steps(pattern, 'a'.repeat(8_000));
    assert.equal(large.matched, false);
    assert.ok(large.steps / small.steps < 4.5, `steps grew ${(large.steps / small.steps).toFixed(2)}x for 4x the value (${small.steps} -> ${large.steps})`);
  });

  test('the same answers as the former RegExp matcher on random small inputs', () => {
    const ch = fc.constantFrom('a', 'b', 'A', '-', '*', '?', '.', 'ß', 'ſ', 'S', 'K', '\u212a', '😀', '\n');
    const text = fc.array(ch, { maxLength: 8 }).map((a) => a.join(''));
    const value = fc
      .array(fc.constantFrom('a', 'b', 'A', 'B', '-', '*', '?', '.', 'ß', 's', 'S', 'k', '😀', '\n', '\ud83d'), { maxLength: 10 })
      .map((a) => a.join(''));
    fc.assert(
      fc.property(text, value, fc.boolean(), (pattern, v, ci) => {
        assert.equal(
          compileWildcard(pattern, ci).test(v),
          oldCompile(pattern, ci).test(v),
          `pattern ${JSON.stringify(pattern)} value ${JSON.stringify(v)} ci=${ci}`,
        );
        assert.equal(wildcardMatch(pattern, v, ci), oldWildcardMatch(pattern, v, ci));
      }),
      { numRuns: 20_000 },
    );
    const parts = fc.array(fc.record({ text, literal: fc.boolean() }), { maxLength: 3 });
    fc.assert(
      fc.property(parts, value, (ps, v) => {
        assert.equal(compileWildcard(ps, false).test(v), oldCompile(ps, false).test(v));
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('Encrypt under a StringLike key-policy condition', () => {
  let server: TestServer;
  let kms: KMSClient;
  let keyId: string;

  before(async () => {
    server = await startTestServer();
    kms = server.kms();
    keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const doc = JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!);
    doc.Statement.push({
      Sid: 'NoProd',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'kms:Encrypt',
      Resource: '*',
      Condition: { StringLike: { 'kms:EncryptionContext:env': '*-*-*-prod' } },
    });
    await kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: JSON.stringify(doc) }));
  });
  after(() => server?.close());

  test('a 1.6 KB context value is decided over HTTP (allowed: it does not end in -prod)', async () => {
    // The linear bound itself is asserted by counting the matcher's steps (above);
    // timing it here would only measure this machine's load.
    for (const valueLength of [400, 1_600]) {
      const env = '-'.repeat(valueLength) + 'dev';
      const out = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: { env } }));
      assert.ok(out.CiphertextBlob && out.CiphertextBlob.length > 0);
    }
    await assert.rejects(
      kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: { env: '-'.repeat(1_600) + 'x-y-z-prod' } })),
      (e: Error) => e.name === 'AccessDeniedException',
    );
  });

  test('the condition still denies a matching value', async () => {
    await assert.rejects(
      kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: { env: 'eu-west-1-prod' } })),
      (e: Error) => e.name === 'AccessDeniedException',
    );
  });
});
