/**
 * Maps stored rows to response bodies. Each view names its fields one by one
 * (the response schemas then drop anything else): ciphertexts appear only in
 * the owner's view of an envelope wallet, shares only in the owner's view of a
 * split wallet (share B unsealed), and nothing of the kms mode's columns
 * appears at all until its issue adds it on purpose.
 */
import type { DeviceShareRow, WalletRow } from '../storage/wallets.repository.js';
import type { ActivityRow } from '../storage/wallet-activity.repository.js';
import type { SiteRow } from '../storage/wallet-sites.repository.js';
import { contextSubOf, type WalletUser } from './users.js';
import { CONTEXT_KEY } from './master-key-policy.js';
import { SIGNING_POLICY_CONTEXT_KEY } from '../signer/shareContext.js';
import { signingPolicySha256 } from '../signing-policy/signingPolicySha256.js';
import { wipe } from '../crypto/bytes.js';
import { openShareB, type ShareSealer } from './wallets.js';

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function base64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

export function meView(user: WalletUser, wallet: WalletRow | undefined) {
  return {
    id: user.id,
    issuer: user.login.issuer,
    sub: user.login.sub,
    userId: user.uid,
    email: user.email,
    masterKeyId: user.masterKeyId,
    createdAt: iso(user.createdAt),
    wallet: wallet ? { id: wallet.id, address: wallet.address, custodyMode: wallet.custodyMode } : null,
  };
}

/**
 * A wallet; with `secrets` (the owner reading their own wallet) an envelope
 * wallet carries its two ciphertexts and the context to decrypt the data key with.
 * @throws {Error} when `owner` does not own the wallet, or an envelope row lacks a ciphertext (the store's CHECK forbids it).
 */
export function walletView(wallet: WalletRow, owner: WalletUser, options: { secrets: boolean; sealer?: ShareSealer | undefined }) {
  const view = { id: wallet.id, address: wallet.address, custodyMode: wallet.custodyMode, createdAt: iso(wallet.createdAt) };
  if (!options.secrets) return view;
  if (wallet.custodyMode === 'split' && options.sealer) return { ...view, split: splitSecrets(wallet, owner, options.sealer) };
  if (wallet.custodyMode !== 'envelope') return view;
  if (wallet.userId !== owner.id) throw new Error(`wallet ${wallet.id} is not user ${owner.id}'s`);
  const { encryptedPrivateKey, encryptedDataKey, kmsKeyId } = wallet;
  if (!encryptedPrivateKey || !encryptedDataKey || !kmsKeyId) throw new Error(`envelope wallet ${wallet.id} is incomplete`);
  return {
    ...view,
    envelope: {
      encryptedPrivateKey: base64(encryptedPrivateKey),
      encryptedDataKey: base64(encryptedDataKey),
      kmsKeyId,
      encryptionContext: { [CONTEXT_KEY]: contextSubOf(owner) },
    },
  };
}

/** The owner's split shares: share A's ciphertext as uploaded, share B unsealed (the copy is wiped once encoded). */
function splitSecrets(wallet: WalletRow, owner: WalletUser, sealer: ShareSealer) {
  if (wallet.userId !== owner.id) throw new Error(`wallet ${wallet.id} is not user ${owner.id}'s`);
  const { encryptedDataKey: shareACiphertext, kmsKeyId } = wallet;
  if (!shareACiphertext || !kmsKeyId) throw new Error(`split wallet ${wallet.id} is incomplete`);
  const shareB = openShareB(sealer, wallet);
  try {
    const generation = wallet.shareGeneration;
    return {
      generation,
      rotationRequired: wallet.rotationRequired,
      shareACiphertext: base64(shareACiphertext),
      shareB: base64(shareB),
      kmsKeyId,
      encryptionContext: {
        [CONTEXT_KEY]: contextSubOf(owner),
        address: wallet.address,
        ...(generation > 0 ? { generation: String(generation) } : {}),
        ...(wallet.signingPolicy !== null ? { [SIGNING_POLICY_CONTEXT_KEY]: signingPolicySha256(wallet.signingPolicy) } : {}),
        ...(wallet.deviceShare ? { factor: wallet.deviceShare.factor } : {}),
      },
      ...(wallet.signingPolicy !== null ? { signingPolicy: wallet.signingPolicy } : {}),
      ...(wallet.deviceShare ? deviceShareView(wallet.deviceShare) : {}),
    };
  } finally {
    wipe(shareB);
  }
}

/** A three-share generation's wrapped copies of share C, for the owner's device (the wallet service cannot open them). */
function deviceShareView(d: DeviceShareRow) {
  return {
    factor: d.factor,
    shareCWrapped: base64(d.wrapped),
    shareCRecoveryWrapped: base64(d.recoveryWrapped),
    ...(d.passkeyWrapped ? { shareCPasskeyWrapped: base64(d.passkeyWrapped) } : {}),
  };
}

export function siteView(site: SiteRow) {
  return { origin: site.origin, connectedAt: iso(site.connectedAt) };
}

export function activityView(a: ActivityRow) {
  return { at: iso(a.at), kind: a.kind, site: a.site, summary: a.summary, ...(a.txHash ? { txHash: a.txHash } : {}) };
}
