/**
 * Bounds on EIP-712 typed data, checked before anything hashes it (issue #12, item 4).
 * EIP-712 sets no limits, and hashing costs more than linear time in what a
 * request can carry: viem's hashStruct re-derives a struct's type encoding
 * (walking the type graph) for every struct value, so a 115 KiB request cost
 * the signer 5–8 s of CPU. Every path that hashes typed data checks these
 * first — the signer (src/eth/payload.ts), src/eth/signTypedData.ts, the
 * wallet frame (web/frame/requests.ts) and @symbolon/sdk (toKmsAccount,
 * KmsSigner, SplitWalletClient) — so that one bound holds everywhere, and the
 * check itself is one linear walk that stops at the first bound crossed.
 *
 * One home, in the SDK (which imports nothing outside its package): src/ and
 * the frame import this file by relative path, which keeps it inside the
 * signer's measured image (src/signer/measure.ts) — never as `@symbolon/sdk`,
 * which the measurement would count only as a package version. Pure, no
 * imports, browser-safe. Messages name the bound and the path, never a value.
 */

/** Typed data over one of {@link TYPED_DATA_LIMITS}, or not shaped as EIP-712 typed data. */
export class TypedDataLimitError extends RangeError {
  override name = 'TypedDataLimitError';
  readonly code = 'TYPED_DATA_LIMIT';
}

/** The bounds. Generous for real use (Permit2 batches, Seaport orders, Safe transactions). */
export const TYPED_DATA_LIMITS = Object.freeze({
  /** Struct types in `types` (including EIP712Domain). */
  types: 64,
  /** Fields of one struct type. */
  fieldsPerType: 64,
  /** Fields of all struct types together. */
  fields: 256,
  /** Characters of a type name, field name or field type. */
  nameLength: 256,
  /** Nesting of objects and arrays in `domain` and `message` (and of array dimensions in a field type). */
  depth: 16,
  /** Elements of one array. */
  arrayLength: 1024,
  /** Values (objects, arrays, strings, numbers, …) in `domain` and `message` together. */
  values: 4096,
  /** Characters of every key and string in the typed data together. */
  size: 64 * 1024,
});

function limit(message: string): TypedDataLimitError {
  return new TypedDataLimitError(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks `typedData` ({ domain?, types, primaryType, message }) against
 * {@link TYPED_DATA_LIMITS} without hashing anything. Costs one walk of at
 * most `values` values and `size` characters.
 * @throws {TypedDataLimitError} (code TYPED_DATA_LIMIT) naming the bound crossed and where.
 */
export function checkTypedDataLimits(typedData: unknown): void {
  const L = TYPED_DATA_LIMITS;
  if (!isObject(typedData) || !isObject(typedData.types)) throw limit('typedData must be an object with types (EIP-712).');
  let size = 0;
  const grow = (n: number, where: string) => {
    size += n;
    if (size > L.size) throw limit(`typedData is larger than ${L.size} characters (at ${where}).`);
  };
  const name = (v: unknown, where: string): string => {
    if (typeof v !== 'string') throw limit(`${where} must be a string.`);
    if (v.length > L.nameLength) throw limit(`${where} is longer than ${L.nameLength} characters.`);
    grow(v.length, where);
    return v;
  };

  const typeNames = Object.keys(typedData.types);
  if (typeNames.length > L.types) throw limit(`typedData.types has more than ${L.types} types (${typeNames.length}).`);
  let fields = 0;
  for (const t of typeNames) {
    name(t, 'a type name');
    const list = typedData.types[t];
    if (!Array.isArray(list)) throw limit(`typedData.types.${t.slice(0, 64)} must be an array of { name, type }.`);
    if (list.length > L.fieldsPerType) throw limit(`typedData.types.${t.slice(0, 64)} has more than ${L.fieldsPerType} fields (${list.length}).`);
    fields += list.length;
    if (fields > L.fields) throw limit(`typedData.types has more than ${L.fields} fields in all.`);
    for (const f of list) {
      if (!isObject(f)) throw limit(`typedData.types.${t.slice(0, 64)} must be an array of { name, type }.`);
      name(f.name, `a field name of ${t.slice(0, 64)}`);
      const type = name(f.type, `a field type of ${t.slice(0, 64)}`);
      let dims = 0;
      for (let i = type.indexOf('['); i >= 0; i = type.indexOf('[', i + 1)) dims++;
      if (dims > L.depth) throw limit(`a field type of ${t.slice(0, 64)} has more than ${L.depth} array dimensions.`);
    }
  }
  name(typedData.primaryType, 'typedData.primaryType');

  // domain and message: an explicit stack, so hostile nesting cannot overflow the call stack.
  let values = 0;
  const stack: Array<{ v: unknown; depth: number; where: string }> = [];
  if (typedData.domain !== undefined) stack.push({ v: typedData.domain, depth: 1, where: 'typedData.domain' });
  stack.push({ v: typedData.message, depth: 1, where: 'typedData.message' });
  while (stack.length > 0) {
    const { v, depth, where } = stack.pop()!;
    if (++values > L.values) throw limit(`typedData has more than ${L.values} values in domain and message.`);
    if (typeof v === 'string') {
      grow(v.length, where);
    } else if (Array.isArray(v)) {
      if (depth > L.depth) throw limit(`${where} is nested deeper than ${L.depth}.`);
      if (v.length > L.arrayLength) throw limit(`${where} has more than ${L.arrayLength} elements (${v.length}).`);
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], depth: depth + 1, where });
    } else if (isObject(v)) {
      if (depth > L.depth) throw limit(`${where} is nested deeper than ${L.depth}.`);
      for (const k of Object.keys(v)) {
        grow(k.length, where);
        if (++values > L.values) throw limit(`typedData has more than ${L.values} values in domain and message.`);
        stack.push({ v: v[k], depth: depth + 1, where: depth < 4 ? `${where}.${k.slice(0, 32)}` : where });
      }
    }
  }
}
