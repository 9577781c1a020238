/**
 * A split wallet's key export, asked by its owner (docs/signer.md, "Export"):
 * refuse unless this signer allows exports (SYMBOLON_WALLET_EXPORT); verify
 * the owner's token and require a fresh authentication — its `auth_time`
 * (or `iat` when it has none) at most STEP_UP_MAX_AGE_SEC old; have share A
 * released exactly as for a signature (releaseShareA.ts) but under a fresh
 * attestation document whose user data states the purpose `export`, so the
 * custodian can tell it from a signature, audit it as an export, and refuse
 * it by key policy (`symbolon:SplitSharePurpose`); rebuild the key as share A
 * XOR share B and check it derives the wallet's address; HPKE-seal the 32
 * bytes to the public key the device generated for this export, with `info`
 * binding the purpose and the address (packages/sdk/src/split/keyExport.ts);
 * wipe share A, share B and the key in `finally`. Only the device that made
 * the key pair can open the answer: the wallet service, the custodian and
 * any DApp see ciphertext at most.
 */
import type { Address } from 'viem';
import { wipe } from '../crypto/bytes.js';
import { EXPORT_PUBLIC_KEY_BYTES, sealExportKey } from '../../packages/sdk/src/split/keyExport.js';
import { openSplitKey } from './openSplitKey.js';
import { SignerError } from './errors.js';
import type { SignerDeps } from './signWithSplitKey.js';
import type { VerifiedToken } from '../identity/verified-token.js';

/** How old the owner's authentication may be for an export: 5 minutes. */
export const STEP_UP_MAX_AGE_SEC = 300;

export interface ExportRequest {
  address: string;
  /** Share B as the device got it; wiped by this function. */
  shareB: Uint8Array;
  /** Share C, for a wallet with the device factor (deviceShare.ts); wiped by this function. */
  shareC?: Uint8Array | undefined;
  shareACiphertext: Uint8Array;
  /** The device's HPKE public key for this export (uncompressed P-256, 65 bytes). */
  publicKey: Uint8Array;
  token: string;
  keyId?: string | undefined;
  generation?: number | undefined;
  /** The signing policy text share A of `generation` was sealed with (absent: none). */
  signingPolicy?: string | undefined;
}

export interface ExportResult {
  address: Address;
  /** HPKE encapsulated key (base64). */
  enc: string;
  /** HPKE ciphertext of the 32-byte key (base64). */
  ciphertext: string;
}

/**
 * When the owner last authenticated: `auth_time` (OIDC Core §2), else `iat`.
 * @throws {SignerError} `reauthentication_required` when neither is a number.
 */
export function authenticatedAt(verified: VerifiedToken): number {
  const t = typeof verified.claims.auth_time === 'number' ? verified.claims.auth_time : verified.claims.iat;
  if (typeof t !== 'number' || !Number.isFinite(t))
    throw new SignerError('reauthentication_required', 'The token states no authentication time (auth_time or iat).');
  return t;
}

/**
 * @throws {SignerError} with a stable code (`export_disabled`, `reauthentication_required`, and those of a signature); never with a share, key or token in its message.
 */
export async function exportSplitKey(deps: SignerDeps & { exportEnabled: boolean; now?: () => number }, request: ExportRequest): Promise<ExportResult> {
  let key: Uint8Array | undefined;
  try {
    if (!deps.exportEnabled) {
      wipe(request.shareB, request.shareC);
      throw new SignerError('export_disabled', 'Key export is disabled on this deployment (SYMBOLON_WALLET_EXPORT).');
    }
    if (request.publicKey.length !== EXPORT_PUBLIC_KEY_BYTES || request.publicKey[0] !== 0x04)
      throw new SignerError('bad_request', `publicKey must be an uncompressed P-256 point (${EXPORT_PUBLIC_KEY_BYTES} bytes).`);
    let age = 0;
    let amr: string[] | undefined;
    // The step-up is checked before anything is released.
    const opened = await openSplitKey(
      deps,
      { ...request, keyId: request.keyId, generation: request.generation ?? 0 },
      {
        purpose: 'export',
        beforeRelease: (verified) => {
          age = Math.floor((deps.now ?? Date.now)() / 1000) - authenticatedAt(verified);
          if (age > STEP_UP_MAX_AGE_SEC)
            throw new SignerError('reauthentication_required', `An export needs an authentication at most ${STEP_UP_MAX_AGE_SEC} seconds old; log in again.`);
          amr = Array.isArray(verified.claims.amr) ? verified.claims.amr.filter((m): m is string => typeof m === 'string').slice(0, 8) : undefined;
        },
      },
    );
    key = opened.key;
    const address = opened.address;

    let sealed: { enc: Uint8Array; ciphertext: Uint8Array };
    try {
      sealed = await sealExportKey({ publicKey: request.publicKey, address, key });
    } catch {
      throw new SignerError('bad_request', 'publicKey is not a valid P-256 point.');
    }
    // Who exported and how they authenticated; the key and its ciphertext are never logged.
    deps.logger.info({ address, authAgeSec: age, ...(amr ? { amr } : {}) }, 'split key exported to its owner');
    return { address, enc: Buffer.from(sealed.enc).toString('base64'), ciphertext: Buffer.from(sealed.ciphertext).toString('base64') };
  } finally {
    wipe(key);
  }
}
