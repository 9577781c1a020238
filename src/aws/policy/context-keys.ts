/**
 * The KMS condition keys an encryption context produces (KMS Developer Guide,
 * "kms:EncryptionContext:context-key" and "kms:EncryptionContextKeys"): one
 * `kms:EncryptionContext:<key>` per pair and the list of keys. Condition key
 * names are matched without regard to case, so pairs whose keys differ only in
 * case share one condition key holding both values. Pure.
 */

/** Condition keys for `authorize()` from a request's encryption context. */
export function encryptionContextConditions(context: Readonly<Record<string, string>>): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null);
  const keys = Object.keys(context);
  for (const k of keys) {
    const name = `kms:EncryptionContext:${k}`;
    const existing = Object.keys(out).find((n) => n.toLowerCase() === name.toLowerCase());
    if (existing) out[existing]!.push(context[k]!);
    else out[name] = [context[k]!];
  }
  if (keys.length) out['kms:EncryptionContextKeys'] = keys;
  return out;
}
