/**
 * The optional third share on the owner's device (issue #18, item 3;
 * docs/signer.md, "A third share on the user's device"): a wallet with the
 * device factor is split 3-of-3, key = A ⊕ B ⊕ C — share A with the
 * custodian, share B with the wallet store, share C with the owner's device
 * (wrapped there under a non-extractable device key). Every share is needed:
 * a 2-of-3 threshold would let the custodian and the wallet provider sign
 * together without the owner's device, which is what the factor stops.
 *
 * Share A of a factor generation is sealed with one more encryption-context
 * key, `factor: "device"`, so the custodian opens it only for a request that
 * states the factor (and audits the factor with every release), and a
 * two-share request for such a wallet is told so — `device_share_required`
 * — instead of failing as an unexplained mismatch. Share C crosses to the
 * signer in the request; it is never logged or stored, and it is wiped with
 * the other shares in the caller's `finally`.
 */
import { wipe } from '../crypto/bytes.js';
import { SignerError } from './errors.js';
import { releaseShareA, SHARE_BYTES } from './releaseShareA.js';

/** The encryption-context key that marks share A of a three-share generation. */
export const FACTOR_CONTEXT_KEY = 'factor';

/** The one factor that holds a share today. */
export const DEVICE_FACTOR = 'device';

export type ShareFactor = typeof DEVICE_FACTOR;

/** Share A's context for a generation with (`factor`) or without the device share. */
export function withFactor(context: Record<string, string>, factor: ShareFactor | undefined): Record<string, string> {
  return factor === undefined ? context : { ...context, [FACTOR_CONTEXT_KEY]: factor };
}

/**
 * Checks a request's share C before anything else is done with the request.
 * @throws {SignerError} bad_request when it is not 32 bytes.
 */
export function checkShareC(shareC: Uint8Array | undefined): void {
  if (shareC !== undefined && shareC.length !== SHARE_BYTES) throw new SignerError('bad_request', `shareC must be ${SHARE_BYTES} bytes, got ${shareC.length}.`);
}

export function deviceShareRequired(): SignerError {
  return new SignerError(
    'device_share_required',
    "This wallet's shares include the owner's device share (factor: device): send shareC, unwrapped on the owner's device, with share A and share B.",
  );
}

/** A three-share request whose shares do not rebuild the address's key: nothing was signed. */
export function deviceShareMismatch(): SignerError {
  return new SignerError(
    'share_mismatch',
    "Share A, share B and share C do not rebuild the key of this address: share C is not this generation's (an old device's, retired by a recovery or rotation) or was altered, or share B is stale or altered.",
  );
}

/**
 * key = A ⊕ B (⊕ C): a fresh buffer the caller wipes. The shares are not wiped here.
 * @throws {RangeError} when a share is not 32 bytes.
 */
export function combineShares(shareA: Uint8Array, shareB: Uint8Array, shareC?: Uint8Array | undefined): Uint8Array {
  for (const [name, s] of [
    ['shareA', shareA],
    ['shareB', shareB],
    ['shareC', shareC],
  ] as const) {
    if (s !== undefined && s.length !== SHARE_BYTES) throw new RangeError(`${name} must be ${SHARE_BYTES} bytes`);
  }
  const key = new Uint8Array(SHARE_BYTES);
  for (let i = 0; i < SHARE_BYTES; i++) key[i] = shareA[i]! ^ shareB[i]! ^ (shareC ? shareC[i]! : 0);
  return key;
}

/**
 * Share A's release for a request with or without share C: with it, under
 * the factor's context. Without it, a refusal to open (`share_ciphertext_invalid`)
 * may mean the wallet has the factor: the release is asked once more under
 * the factor's context — only on this failing path — and if the custodian
 * opens it, share A is wiped unused and the answer is `device_share_required`.
 * Nothing is signed either way.
 * @throws {SignerError} `device_share_required`, or releaseShareA's codes.
 */
export async function releaseShareAFor(
  deps: Parameters<typeof releaseShareA>[0],
  request: Parameters<typeof releaseShareA>[1],
  hasShareC: boolean,
): ReturnType<typeof releaseShareA> {
  if (hasShareC) return releaseShareA(deps, { ...request, context: withFactor(request.context, DEVICE_FACTOR) });
  try {
    return await releaseShareA(deps, request);
  } catch (e) {
    if (!(e instanceof SignerError && e.code === 'share_ciphertext_invalid')) throw e;
    let probe: Uint8Array;
    try {
      const { decision: _notSigned, ...rest } = request;
      probe = (await releaseShareA(deps, { ...rest, context: withFactor(request.context, DEVICE_FACTOR) })).shareA;
    } catch {
      throw e;
    }
    wipe(probe);
    throw deviceShareRequired();
  }
}
