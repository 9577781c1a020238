/**
 * Checks a JSON 1.1 request body against the operation's input shape from
 * AWS's own KMS service model (src/kms/shapes.ts, generated from botocore by
 * scripts/gen-kms-shapes.js), before the operation reads it — so no field is
 * silently ignored and every field meets AWS's constraints, for every
 * operation alike (issue #12, item 10). As AWS: a member the shape does not
 * have, or a value of the wrong JSON type, is a SerializationException; a
 * value outside its length, range, pattern or enum, or a missing required
 * member, is a ValidationException in AWS's wording naming the member
 * (camelCase, nested members dotted). Values are echoed only for enums,
 * numbers and identifiers (patterned strings of at most 256 characters),
 * never for blobs or free text. Linear in the body's size; the
 * model's patterns are plain character classes.
 */
import { constraintViolation, serialization } from '../aws/errors.js';
import { isBase64Blob } from './input.js';
import { OPERATION_INPUTS, SHAPES } from './shapes.js';
import type { Shape } from './shape.js';

export type { Shape } from './shape.js';

const patterns = new Map<string, RegExp>();

function pattern(source: string): RegExp {
  let re = patterns.get(source);
  if (!re) {
    // Java's String.matches: the whole value must match.
    re = new RegExp(`^(?:${source})$`);
    patterns.set(source, re);
  }
  return re;
}

function wire(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkLength(n: number, s: Shape, path: string, shown: null | undefined): void {
  if (s.min !== undefined && n < s.min) throw constraintViolation(path, shown, `Member must have length greater than or equal to ${s.min}`);
  if (s.max !== undefined && n > s.max) throw constraintViolation(path, shown, `Member must have length less than or equal to ${s.max}`);
}

function check(v: unknown, shapeName: string, path: string): void {
  const s = SHAPES[shapeName]!;
  switch (s.type) {
    case 'string': {
      if (typeof v !== 'string') throw serialization(`Value for '${path}' must be a string`);
      if (s.enum) {
        if (!s.enum.includes(v))
          throw constraintViolation(path, v.length <= 64 ? v : `${v.slice(0, 64)}…`, `Member must satisfy enum value set: [${s.enum.join(', ')}]`);
        return;
      }
      checkLength(v.length, s, path, null);
      if (s.pattern !== undefined && !pattern(s.pattern).test(v)) {
        // Identifiers (an alias name, an XKS key id) are echoed as AWS does; free text (a policy) is not.
        const shown = s.max !== undefined && s.max <= 256 ? v : undefined;
        throw constraintViolation(path, shown, `Member must satisfy regular expression pattern: ${s.pattern}`);
      }
      return;
    }
    case 'blob': {
      if (!isBase64Blob(v)) throw serialization(`Value for '${path}' must be a base64-encoded blob`);
      const padding = v.endsWith('==') ? 2 : v.endsWith('=') ? 1 : 0;
      checkLength((v.length / 4) * 3 - padding, s, path, undefined);
      return;
    }
    case 'integer':
    case 'long': {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw serialization(`Value for '${path}' must be an integer`);
      if (s.min !== undefined && v < s.min) throw constraintViolation(path, String(v), `Member must have value greater than or equal to ${s.min}`);
      if (s.max !== undefined && v > s.max) throw constraintViolation(path, String(v), `Member must have value less than or equal to ${s.max}`);
      return;
    }
    case 'boolean':
      if (typeof v !== 'boolean') throw serialization(`Value for '${path}' must be a boolean`);
      return;
    case 'timestamp':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw serialization(`Value for '${path}' must be a timestamp (epoch seconds)`);
      return;
    case 'list': {
      if (!Array.isArray(v)) throw serialization(`Value for '${path}' must be a list`);
      checkLength(v.length, s, path, null);
      v.forEach((item, i) => check(item, s.member!, `${path}.${i + 1}.member`));
      return;
    }
    case 'map': {
      if (!isObject(v)) throw serialization(`Value for '${path}' must be a map`);
      const entries = Object.entries(v);
      checkLength(entries.length, s, path, null);
      for (const [k, val] of entries) {
        check(k, s.key!, `${path}.key`);
        check(val, s.value!, `${path}.value`);
      }
      return;
    }
    case 'structure': {
      if (!isObject(v)) throw serialization(`Value for '${path || 'the request body'}' must be a structure`);
      const members = s.members ?? {};
      for (const [k, val] of Object.entries(v)) {
        const member = Object.hasOwn(members, k) ? members[k] : undefined;
        if (member === undefined) throw serialization(`Unrecognized field '${k.slice(0, 64)}'${path ? ` in '${path}'` : ''}`);
        // JSON null is an absent member (as the operations read it).
        if (val !== null) check(val, member, path ? `${path}.${wire(k)}` : wire(k));
      }
      for (const r of s.required ?? []) {
        if (v[r] === undefined || v[r] === null) throw constraintViolation(path ? `${path}.${wire(r)}` : wire(r), null, 'Member must not be null');
      }
      return;
    }
  }
}

/**
 * Symbolon's own top-level members of AWS operations, which the operation
 * itself reads and checks: Decrypt's `SymbolonSigningDecision`, the split
 * signer's claims beside an attested Recipient (src/kms/signer-claims.ts).
 */
const EXTENSION_MEMBERS: Readonly<Record<string, readonly string[]>> = { Decrypt: ['SymbolonSigningDecision'] };

/**
 * Checks `body` against the input shape of KMS operation `operation`; an
 * operation the model does not have (Symbolon's own) is not checked here,
 * nor are the extension members the operation checks itself.
 * @throws {AwsError} SerializationException (unknown member, wrong JSON type), ValidationException (a constraint).
 */
export function checkInputShape(operation: string, body: unknown): void {
  const input = Object.hasOwn(OPERATION_INPUTS, operation) ? OPERATION_INPUTS[operation] : undefined;
  if (input === undefined) return;
  const extensions = Object.hasOwn(EXTENSION_MEMBERS, operation) ? EXTENSION_MEMBERS[operation]! : [];
  if (isObject(body) && extensions.some((m) => Object.hasOwn(body, m))) {
    const rest = { ...body };
    for (const m of extensions) delete rest[m];
    check(rest, input, '');
    return;
  }
  check(body, input, '');
}
