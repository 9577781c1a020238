/**
 * The accounts a token's user may sign with (eth_accounts): every enabled
 * ECC_SECG_P256K1 SIGN_VERIFY key of the account that the user's KMS `Sign`
 * through this signer would be allowed on (the same authorization
 * src/kms/sign-payload.ts runs, kms:ViaService=rpc.symbolon), by address.
 * The list is kept per caller for the key cache's TTL; an address not in it
 * is looked up again once before `from` is refused, so a key made a moment
 * ago is usable at once. A key's address is derived once per key version.
 */
import type { Address } from 'viem';
import { AwsError } from '../aws/errors.js';
import type { Caller, RequestInfo } from '../aws/context.js';
import { publicKeyToAddress } from '../eth/publicKeyToAddress.js';
import { listKeys } from '../kms/key-records.js';
import { authorize, loadMaterial } from '../kms/keys.js';
import type { KmsDeps, OperationContext } from '../kms/context.js';
import type { KeyRecord } from '../kms/model.js';

/** The conditions KMS Sign through this signer is authorized with (as src/kms/sign-payload.ts sets them). */
export const RPC_SIGN_CONDITIONS = { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'DIGEST', 'kms:ViaService': 'rpc.symbolon' } as const;

interface Entry {
  /** Lowercase address → key id, in key creation order. */
  accounts: Map<string, string>;
  expires: number;
}

const MAX_KEYS_SCANNED = 100_000;

export class RpcAccounts {
  readonly #deps: KmsDeps;
  readonly #ttlMs: number;
  readonly #byCaller = new Map<string, Entry>();
  readonly #addresses = new Map<string, Address>();

  constructor(options: { deps: KmsDeps; ttlMs: number }) {
    this.#deps = options.deps;
    this.#ttlMs = options.ttlMs;
  }

  /** The caller's accounts: lowercase address → key id. */
  async of(caller: Caller, info: RequestInfo): Promise<ReadonlyMap<string, string>> {
    const k = `${caller.arn}\u0000${caller.accessKeyId}`;
    const entry = this.#byCaller.get(k);
    if (entry && entry.expires > info.now) return entry.accounts;
    return this.#refresh(caller, info);
  }

  /** The key id behind `address` (lowercase) for this caller, or undefined when it is not one of the caller's accounts. */
  async keyFor(caller: Caller, info: RequestInfo, address: string): Promise<string | undefined> {
    const found = (await this.of(caller, info)).get(address);
    if (found !== undefined) return found;
    return (await this.#refresh(caller, info)).get(address);
  }

  async #refresh(caller: Caller, info: RequestInfo): Promise<Map<string, string>> {
    const accounts = new Map<string, string>();
    let after: { createdAt: number; keyId: string } | undefined;
    for (let scanned = 0; scanned < MAX_KEYS_SCANNED; ) {
      const page = await listKeys(this.#deps.store.db, after, 500);
      for (const key of page) {
        if (key.keySpec !== 'ECC_SECG_P256K1' || key.keyUsage !== 'SIGN_VERIFY' || key.keyState !== 'Enabled') continue;
        if (key.accountId !== this.#deps.config.accountId) continue;
        const address = await this.#mayUse(caller, info, key);
        if (address && !accounts.has(address)) accounts.set(address, key.keyId);
      }
      scanned += page.length;
      if (page.length < 500) break;
      const last = page[page.length - 1]!;
      after = { createdAt: last.createdAt, keyId: last.keyId };
    }
    const k = `${caller.arn}\u0000${caller.accessKeyId}`;
    if (this.#byCaller.size > 10_000) this.#byCaller.clear();
    this.#byCaller.set(k, { accounts, expires: info.now + this.#ttlMs });
    return accounts;
  }

  /** The key's lowercase address when the caller may sign with it here, else undefined. */
  async #mayUse(caller: Caller, info: RequestInfo, key: KeyRecord): Promise<string | undefined> {
    const ctx: OperationContext = { deps: this.#deps, caller, info, audit: {} };
    try {
      await authorize(ctx, 'kms:Sign', key, { ...RPC_SIGN_CONDITIONS });
    } catch (e) {
      if (e instanceof AwsError && e.type === 'AccessDeniedException') return undefined;
      throw e;
    }
    const cacheKey = `${key.keyId}:${key.currentVersion}`;
    let address = this.#addresses.get(cacheKey);
    if (!address) {
      const material = await loadMaterial(ctx, key);
      if (!material.publicKey) return undefined;
      address = publicKeyToAddress(material.publicKey).toLowerCase() as Address;
      if (this.#addresses.size > 100_000) this.#addresses.clear();
      this.#addresses.set(cacheKey, address);
    }
    return address;
  }
}
