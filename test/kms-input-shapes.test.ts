// Issue #12, item 10, through a real listening custodian with SigV4-signed
// requests: CreateKey refuses the fields it does not support with AWS's
// exceptions (CustomKeyStoreId, XksKeyId, CustomerMasterKeySpec beside
// KeySpec) instead of ignoring them; and, read from botocore's KMS service
// model (when the vectors are present; skipped plainly otherwise), every
// member of every implemented operation's input is sent values that violate
// its constraints — wrong JSON type, unknown member, length, range, pattern,
// enum — each answered SerializationException or ValidationException naming
// the member, with nothing changed in the store. The generated
// src/kms/shapes.ts must also still say what the model says.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { ADMIN, REGION, startTestServer, type TestServer } from './helpers/server.js';
import { operations } from '../src/kms/operations/registry.js';
import { OPERATION_INPUTS, SHAPES } from '../src/kms/shapes.js';
import { absentMessage, readVectorJson, vectorPath } from './helpers/vectors.js';

const MODEL = 'botocore/kms/service-2.json';
let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server?.close());

async function call(target: string, body: unknown): Promise<{ status: number; type: string; message: string; json: any }> {
  const url = new URL(server.endpoint);
  const text = JSON.stringify(body);
  const signer = new SignatureV4({ credentials: ADMIN, region: REGION, service: 'kms', sha256: Hash.bind(null, 'sha256') });
  const req = (await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${target}` },
      body: text,
    }),
  )) as HttpRequest;
  const headers = { ...req.headers } as Record<string, string>;
  delete headers.host;
  const res = await fetch(`${server.endpoint}/`, { method: 'POST', headers, body: text });
  const json = (await res.json()) as any;
  return { status: res.status, type: json.__type ?? '', message: json.message ?? '', json };
}

/** Everything a request can change, read from the store. */
async function snapshot(): Promise<string> {
  const db = server.custodian.deps.store.db;
  const [keys, aliases, tags, material] = await Promise.all([
    db.selectFrom('kms_keys').selectAll().orderBy('key_id').execute(),
    db.selectFrom('kms_aliases').selectAll().execute(),
    db.selectFrom('kms_key_tags').selectAll().execute(),
    db.selectFrom('kms_key_material').select(['key_id']).execute(),
  ]);
  return JSON.stringify({ keys, aliases, tags, material: material.length });
}

describe('CreateKey refuses the fields it does not support', () => {
  test("CustomKeyStoreId, XksKeyId, CustomerMasterKeySpec beside KeySpec: AWS's exceptions, no key created", async () => {
    const before = await snapshot();
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ CustomKeyStoreId: 'cks-1234567890abcdef0' }, 'CustomKeyStoreNotFoundException', /Custom key store cks-1234567890abcdef0 does not exist/],
      [{ KeySpec: 'SYMMETRIC_DEFAULT', CustomKeyStoreId: 'cks-1' }, 'CustomKeyStoreNotFoundException', /cks-1/],
      [{ XksKeyId: 'ext-key-1' }, 'ValidationException', /XksKeyId is valid only/],
      [{ XksKeyId: 1234 }, 'SerializationException', /xksKeyId/],
      [{ XksKeyId: 'not valid!' }, 'ValidationException', /xksKeyId.*regular expression pattern/],
      [{ Origin: 'EXTERNAL_KEY_STORE', XksKeyId: 'ext-key-1' }, 'UnsupportedOperationException', /Origin EXTERNAL_KEY_STORE/],
      [{ KeySpec: 'SYMMETRIC_DEFAULT', CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT' }, 'ValidationException', /KeySpec and CustomerMasterKeySpec/],
      [
        { KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY', CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT' },
        'ValidationException',
        /KeySpec and CustomerMasterKeySpec/,
      ],
      [{ CustomKeyStoreId: '' }, 'ValidationException', /customKeyStoreId.*greater than or equal to 1/],
    ];
    for (const [body, type, message] of cases) {
      const r = await call('CreateKey', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.type, type, `${JSON.stringify(body)}: ${r.message}`);
      assert.match(r.message, message);
    }
    assert.equal(await snapshot(), before);
    // The deprecated name alone still works, as in AWS.
    const k = await server.kms().send(new CreateKeyCommand({ CustomerMasterKeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
    assert.equal(k.KeyMetadata!.KeySpec, 'ECC_SECG_P256K1');
  });
});

const modelPath = vectorPath(MODEL);
describe("every implemented operation's input, against botocore's KMS model", { skip: modelPath ? false : absentMessage(MODEL) }, () => {
  let model: { operations: Record<string, { input?: { shape: string } }>; shapes: Record<string, any> };
  before(() => {
    model = readVectorJson(modelPath!);
  });

  const wire = (n: string) => n.charAt(0).toLowerCase() + n.slice(1);

  test('src/kms/shapes.ts says what the model says (regenerate with scripts/gen-kms-shapes.js)', () => {
    for (const name of operations.keys()) {
      const input = model.operations[name]?.input?.shape;
      assert.ok(input, `${name} is in the model`);
      assert.equal(OPERATION_INPUTS[name], input, name);
    }
    for (const [name, ours] of Object.entries(SHAPES)) {
      const m = model.shapes[name];
      for (const k of ['type', 'min', 'max', 'pattern', 'enum'] as const) assert.deepEqual((ours as any)[k], m[k], `${name}.${k}`);
      if (m.type === 'structure') assert.deepEqual(Object.keys(ours.members!).sort(), Object.keys(m.members).sort(), `${name} members`);
      if (m.type === 'structure') assert.deepEqual([...(ours.required ?? [])].sort(), [...(m.required ?? [])].sort(), `${name} required`);
    }
  });

  /** A value that meets `shapeName`'s constraints. */
  function valid(shapeName: string): unknown {
    const s = model.shapes[shapeName];
    switch (s.type) {
      case 'string': {
        if (s.enum) return s.enum[0];
        const n = Math.max(s.min ?? 1, 1);
        for (const c of ['a', 'alias/a', 'A1']) {
          const v = c.length >= n ? c : c + 'a'.repeat(n - c.length);
          if (!s.pattern || new RegExp(`^(?:${s.pattern})$`).test(v)) return v;
        }
        throw new Error(`no valid sample for ${shapeName}`);
      }
      case 'blob':
        return Buffer.alloc(Math.max(s.min ?? 1, 1), 1).toString('base64');
      case 'integer':
      case 'long':
        return s.min ?? 1;
      case 'boolean':
        return false;
      case 'list':
        return s.min ? Array.from({ length: s.min }, () => valid(s.member.shape)) : [];
      case 'map':
        return {};
      case 'structure':
        return Object.fromEntries((s.required ?? []).map((r: string) => [r, valid(s.members[r].shape)]));
      default:
        throw new Error(`no sample for ${s.type}`);
    }
  }

  /** Values violating `shapeName`, each with the exception AWS answers. */
  function violations(shapeName: string): Array<[string, unknown, 'SerializationException' | 'ValidationException']> {
    const s = model.shapes[shapeName];
    const out: Array<[string, unknown, 'SerializationException' | 'ValidationException']> = [];
    const S = 'SerializationException';
    const V = 'ValidationException';
    switch (s.type) {
      case 'string':
        out.push(['a number', 12345, S]);
        if (s.enum) out.push(['outside the enum', 'NOT_IN_THE_ENUM', V]);
        else {
          if ((s.min ?? 0) > 0) out.push(['too short', '', V]);
          if (s.max !== undefined && s.max < 60_000) out.push(['too long', 'a'.repeat(s.max + 1), V]);
          if (s.pattern) {
            const re = new RegExp(`^(?:${s.pattern})$`);
            const bad = ['\u0001', ' ', '\u4e00', 'a b']
              .map((c) => c.repeat(Math.max(s.min ?? 1, 1)))
              .find((c) => !re.test(c) && c.length <= (s.max ?? Infinity));
            if (bad !== undefined) out.push(['against the pattern', bad, V]);
          }
        }
        break;
      case 'blob':
        out.push(['not base64', '!!!not-base64!!!', S], ['a number', 7, S]);
        if ((s.min ?? 0) > 0) out.push(['empty', '', V]);
        if (s.max !== undefined && s.max < 40_000) out.push(['too long', Buffer.alloc(s.max + 1, 1).toString('base64'), V]);
        break;
      case 'integer':
      case 'long':
        out.push(['a string', 'x', S], ['a fraction', 1.5, S]);
        if (s.min !== undefined) out.push(['below the range', s.min - 1, V]);
        if (s.max !== undefined) out.push(['above the range', s.max + 1, V]);
        break;
      case 'boolean':
        out.push(['a string', 'true', S]);
        break;
      case 'list':
        out.push(['an object', {}, S], ['a list of the wrong type', [true], S]);
        if (s.max !== undefined && s.max < 1000) out.push(['too long', Array.from({ length: s.max + 1 }, () => valid(s.member.shape)), V]);
        break;
      case 'map':
        out.push(['a list', [], S], ['a map of numbers', { k: 1 }, S]);
        break;
      case 'structure':
        out.push(['a list', [], S], ['an unknown member inside', { ...(valid(shapeName) as object), NotAMember: 1 }, S]);
        break;
    }
    return out;
  }

  test('each member: wrong type, unknown member, length, range, pattern and enum violations are refused; nothing changes', async (t) => {
    const before = await snapshot();
    let sent = 0;
    for (const name of [...operations.keys()].sort()) {
      const input = model.shapes[model.operations[name]!.input!.shape];
      const base = valid(model.operations[name]!.input!.shape) as Record<string, unknown>;
      const unknown = await call(name, { ...base, NotAMember: 'x' });
      assert.equal(unknown.type, 'SerializationException', `${name} unknown member: ${unknown.message}`);
      assert.match(unknown.message, /NotAMember/);
      sent++;
      for (const [member, ref] of Object.entries<{ shape: string }>(input.members)) {
        for (const [what, value, type] of violations(ref.shape)) {
          const r = await call(name, { ...base, [member]: value });
          sent++;
          assert.equal(r.status, 400, `${name}.${member} ${what}`);
          assert.equal(r.type, type, `${name}.${member} ${what}: ${r.type} ${r.message}`);
          assert.ok(r.message.includes(wire(member)) || r.message.includes('NotAMember'), `${name}.${member} ${what}: message names the member: ${r.message}`);
        }
      }
      for (const r of input.required ?? []) {
        const missing = { ...base };
        delete missing[r];
        const m = await call(name, missing);
        sent++;
        assert.equal(m.type, 'ValidationException', `${name} without ${r}`);
        assert.match(m.message, new RegExp(`Value null at '${wire(r)}'.*Member must not be null`));
      }
    }
    t.diagnostic(`${sent} hostile requests over ${operations.size} operations`);
    assert.equal(await snapshot(), before);
  });
});

test('isBase64Blob accepts exactly the strings of the grouped base64 pattern', async () => {
  const { isBase64Blob } = await import('../src/kms/input.js');
  const grouped = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  const alphabet = ['A', 'z', '9', '+', '/', '=', '-', '_', ' ', '\n'];
  let strings = [''];
  let accepted = 0;
  for (let len = 0; len <= 5; len++) {
    for (const s of strings) {
      assert.equal(isBase64Blob(s), grouped.test(s), JSON.stringify(s));
      if (grouped.test(s)) accepted++;
    }
    strings = strings.flatMap((s) => alphabet.map((c) => s + c));
  }
  assert.ok(accepted > 100, 'the enumeration includes valid blobs');
  assert.equal(isBase64Blob(42), false);
});
