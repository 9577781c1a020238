/**
 * Which root of trust wraps the store key (docs/root-of-trust.md), from the
 * environment: SYMBOLON_ROOT (file, the default, or pkcs11) and the PKCS#11
 * token's settings.
 */
import type { RootKind } from './root-of-trust.js';

/** A PKCS#11 token holding the root key (src/root/pkcs11-root.ts). */
export interface Pkcs11Settings {
  /** SYMBOLON_PKCS11_MODULE: the PKCS#11 library's path, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  /** SYMBOLON_PKCS11_TOKEN_LABEL: the token's label. */
  tokenLabel: string;
  /** SYMBOLON_PKCS11_PIN: the user PIN. */
  pin: string;
  /** SYMBOLON_PKCS11_KEY_LABEL: the label of the AES-256 root key inside the token (generated there on a fresh store when absent). */
  keyLabel: string;
}

export interface RootSettings {
  kind: RootKind;
  pkcs11: Pkcs11Settings | undefined;
}

/** @throws {RangeError} on an unknown SYMBOLON_ROOT or a PKCS#11 root with settings missing. */
export function rootSettingsFromEnv(env: NodeJS.ProcessEnv): RootSettings {
  const kind = env.SYMBOLON_ROOT || 'file';
  if (kind === 'file') return { kind, pkcs11: undefined };
  if (kind !== 'pkcs11') throw new RangeError(`SYMBOLON_ROOT must be file or pkcs11 (got ${kind.slice(0, 20)})`);
  const missing = ['SYMBOLON_PKCS11_MODULE', 'SYMBOLON_PKCS11_TOKEN_LABEL', 'SYMBOLON_PKCS11_PIN'].filter((n) => !env[n]);
  if (missing.length > 0) throw new RangeError(`SYMBOLON_ROOT=pkcs11 needs ${missing.join(', ')}`);
  const keyLabel = env.SYMBOLON_PKCS11_KEY_LABEL || 'symbolon-root';
  if (keyLabel.length > 64) throw new RangeError('SYMBOLON_PKCS11_KEY_LABEL must be at most 64 characters');
  return {
    kind,
    pkcs11: { module: env.SYMBOLON_PKCS11_MODULE!, tokenLabel: env.SYMBOLON_PKCS11_TOKEN_LABEL!, pin: env.SYMBOLON_PKCS11_PIN!, keyLabel },
  };
}
