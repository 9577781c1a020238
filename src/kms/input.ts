/**
 * Reads and checks the fields of a JSON 1.1 request body the way AWS does: a
 * field of the wrong JSON type is a SerializationException; a value outside its
 * constraints is a ValidationException in AWS's wording, naming the field in
 * camelCase. Blob values (base64) are decoded strictly. The value itself is
 * echoed only for enums and numbers, never for blobs or free text.
 */
import { constraintViolation, serialization } from '../aws/errors.js';

const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Whether `v` is standard, padded base64: a multiple of 4 characters from the
 * alphabet with at most two `=` at the end. The same strings as the grouped
 * pattern `^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$`
 * at about half its cost (one character class, no group backtracking).
 */
export function isBase64Blob(v: unknown): v is string {
  return typeof v === 'string' && v.length % 4 === 0 && BASE64_CHARS.test(v);
}

/** `KeyId` -> `keyId`, as AWS names fields in validation messages. */
function wireName(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

interface Presence {
  required?: boolean;
}

export class Input {
  readonly #body: Record<string, unknown>;

  constructor(body: unknown) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw serialization('Start of structure or map expected at the top of the request body');
    }
    this.#body = body as Record<string, unknown>;
  }

  /** The body as parsed, for the shape check (src/kms/input-shapes.ts). */
  get raw(): Readonly<Record<string, unknown>> {
    return this.#body;
  }

  #get(name: string, required: boolean | undefined): unknown {
    const v = this.#body[name];
    if (v === undefined || v === null) {
      if (required) throw constraintViolation(wireName(name), null, 'Member must not be null');
      return undefined;
    }
    return v;
  }

  /** True when the field is present (and not null). */
  has(name: string): boolean {
    const v = this.#body[name];
    return v !== undefined && v !== null;
  }

  string(name: string, opts: Presence & { required: true; min?: number; max?: number }): string;
  string(name: string, opts?: Presence & { min?: number; max?: number }): string | undefined;
  string(name: string, opts: Presence & { min?: number; max?: number } = {}): string | undefined {
    const v = this.#get(name, opts.required);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw serialization(`Value for '${wireName(name)}' must be a string`);
    if (opts.min !== undefined && v.length < opts.min) {
      throw constraintViolation(wireName(name), null, `Member must have length greater than or equal to ${opts.min}`);
    }
    if (opts.max !== undefined && v.length > opts.max) {
      throw constraintViolation(wireName(name), null, `Member must have length less than or equal to ${opts.max}`);
    }
    return v;
  }

  enum<T extends string>(name: string, values: readonly T[], opts: Presence & { required: true }): T;
  enum<T extends string>(name: string, values: readonly T[], opts?: Presence): T | undefined;
  enum<T extends string>(name: string, values: readonly T[], opts: Presence = {}): T | undefined {
    const v = this.#get(name, opts.required);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw serialization(`Value for '${wireName(name)}' must be a string`);
    const found = values.find((x) => x === v);
    if (found === undefined) {
      const shown = v.length <= 64 ? v : `${v.slice(0, 64)}…`;
      throw constraintViolation(wireName(name), shown, `Member must satisfy enum value set: [${values.join(', ')}]`);
    }
    return found;
  }

  integer(name: string, opts: Presence & { required: true; min?: number; max?: number }): number;
  integer(name: string, opts?: Presence & { min?: number; max?: number }): number | undefined;
  integer(name: string, opts: Presence & { min?: number; max?: number } = {}): number | undefined {
    const v = this.#get(name, opts.required);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw serialization(`Value for '${wireName(name)}' must be an integer`);
    if (opts.min !== undefined && v < opts.min) {
      throw constraintViolation(wireName(name), String(v), `Member must have value greater than or equal to ${opts.min}`);
    }
    if (opts.max !== undefined && v > opts.max) {
      throw constraintViolation(wireName(name), String(v), `Member must have value less than or equal to ${opts.max}`);
    }
    return v;
  }

  boolean(name: string): boolean | undefined {
    const v = this.#get(name, false);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw serialization(`Value for '${wireName(name)}' must be a boolean`);
    return v;
  }

  /** A base64 blob, decoded. Lengths are of the decoded bytes, as in AWS's model. */
  blob(name: string, opts: Presence & { required: true; min?: number; max?: number }): Uint8Array;
  blob(name: string, opts?: Presence & { min?: number; max?: number }): Uint8Array | undefined;
  blob(name: string, opts: Presence & { min?: number; max?: number } = {}): Uint8Array | undefined {
    const v = this.#get(name, opts.required);
    if (v === undefined) return undefined;
    if (!isBase64Blob(v)) throw serialization(`Value for '${wireName(name)}' must be a base64-encoded blob`);
    const bytes = new Uint8Array(Buffer.from(v, 'base64'));
    const min = opts.min ?? 1;
    if (bytes.length < min) {
      throw constraintViolation(wireName(name), undefined, `Member must have length greater than or equal to ${min}`);
    }
    if (opts.max !== undefined && bytes.length > opts.max) {
      throw constraintViolation(wireName(name), undefined, `Member must have length less than or equal to ${opts.max}`);
    }
    return bytes;
  }

  /** A map of string to string (EncryptionContext). */
  stringMap(name: string): Record<string, string> | undefined {
    const v = this.#get(name, false);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw serialization(`Value for '${wireName(name)}' must be a map of strings`);
    const out: Record<string, string> = Object.create(null);
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      if (typeof val !== 'string') throw serialization(`Value for '${wireName(name)}' must be a map of strings`);
      out[k] = val;
    }
    return out;
  }

  /** A list of strings. */
  stringList(name: string, opts: { max?: number } = {}): string[] | undefined {
    const v = this.#get(name, false);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw serialization(`Value for '${wireName(name)}' must be a list of strings`);
    if (opts.max !== undefined && v.length > opts.max) {
      throw constraintViolation(wireName(name), null, `Member must have length less than or equal to ${opts.max}`);
    }
    return v as string[];
  }

  /** A nested structure (e.g. Decrypt's `Recipient`), read with its own Input. */
  object(name: string): Input | undefined {
    const v = this.#get(name, false);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw serialization(`Value for '${wireName(name)}' must be a structure`);
    return new Input(v);
  }

  /** A list of objects, each read with its own Input. */
  objectList(name: string): Input[] | undefined {
    const v = this.#get(name, false);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) throw serialization(`Value for '${wireName(name)}' must be a list`);
    return v.map((x) => new Input(x));
  }
}

/** Encodes bytes as the base64 string a JSON 1.1 blob field carries. */
export function blobOut(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** AWS JSON 1.1 timestamps are epoch seconds. */
export function timestampOut(ms: number): number {
  return ms / 1000;
}
