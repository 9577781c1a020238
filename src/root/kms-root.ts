/**
 * Auto-unseal through another KMS: the store key wrapped by any
 * AWS-KMS-compatible endpoint (AWS KMS, or another Symbolon) with `Encrypt`
 * and `Decrypt` under a symmetric key there, and an encryption context naming
 * this installation and the store-key version — so the upstream's own audit
 * log says which installation unsealed, and a wrapped key moved to another
 * installation's row does not decrypt. Credentials: SYMBOLON_ROOT_KMS_* keys
 * when set, else the AWS SDK's standard chain (AWS_ACCESS_KEY_ID …, profiles,
 * instance roles). Used once at start-up, like every root.
 *
 * A wrapped store key is: 0x01 || the upstream's CiphertextBlob.
 */
import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { concatBytes } from '../crypto/bytes.js';
import { RootKeyError, type RootKey, type StoreKeyBinding } from './root-of-trust.js';
import type { KmsRootSettings } from './settings.js';

const WRAP_FORMAT = 0x01;

/** The encryption context the upstream binds the wrapped store key to. */
export function kmsRootContext(binding: StoreKeyBinding): Record<string, string> {
  return { 'symbolon:purpose': 'store-key', 'symbolon:installation': binding.installation, 'symbolon:store-key-version': String(binding.version) };
}

function describeFailure(e: unknown): { unreachable: boolean; name: string } {
  const err = e as { name?: unknown; code?: unknown; cause?: { code?: unknown }; $metadata?: unknown };
  const code = String(err.code ?? err.cause?.code ?? '');
  const name = typeof err.name === 'string' ? err.name : 'Error';
  const unreachable =
    /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)$/.test(code) || name === 'TimeoutError' || name === 'RequestTimeout';
  return { unreachable, name: code && unreachable ? code : name };
}

export class KmsRootKey implements RootKey {
  readonly kind = 'kms' as const;
  readonly description: string;
  readonly #client: KMSClient;
  readonly #keyId: string;

  constructor(settings: KmsRootSettings) {
    this.#keyId = settings.keyId;
    this.description = `KMS key ${settings.keyId} at ${settings.endpoint ?? `AWS KMS (${settings.region})`}`;
    this.#client = new KMSClient({
      region: settings.region,
      maxAttempts: 2,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      ...(settings.credentials ? { credentials: settings.credentials } : {}),
      requestHandler: { connectionTimeout: 5000, requestTimeout: 10000 },
    });
  }

  #fail(e: unknown, action: string): never {
    const { unreachable, name } = describeFailure(e);
    if (unreachable) throw new RootKeyError(`the root ${this.description} is unreachable (${name}); refusing to start until it answers`);
    if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException')
      throw new RootKeyError(
        `The root key from ${this.description} does not match this store: its store key was wrapped under another key or installation (${name}). Refusing to start.`,
      );
    throw new RootKeyError(`the root ${this.description} refused ${action} (${name})`);
  }

  async wrap(storeKey: Uint8Array, binding: StoreKeyBinding): Promise<Uint8Array> {
    try {
      const out = await this.#client.send(new EncryptCommand({ KeyId: this.#keyId, Plaintext: storeKey, EncryptionContext: kmsRootContext(binding) }));
      return concatBytes(Uint8Array.of(WRAP_FORMAT), out.CiphertextBlob!);
    } catch (e) {
      this.#fail(e, 'Encrypt');
    }
  }

  async unwrap(wrapped: Uint8Array, binding: StoreKeyBinding): Promise<Uint8Array> {
    if (wrapped.length < 2 || wrapped[0] !== WRAP_FORMAT) throw new RootKeyError('the stored store key has an unknown wrapping format');
    let plaintext: Uint8Array | undefined;
    try {
      plaintext = (
        await this.#client.send(new DecryptCommand({ KeyId: this.#keyId, CiphertextBlob: wrapped.subarray(1), EncryptionContext: kmsRootContext(binding) }))
      ).Plaintext;
    } catch (e) {
      this.#fail(e, 'Decrypt');
    }
    if (!plaintext) throw new RootKeyError(`the root ${this.description} answered Decrypt without a plaintext`);
    return plaintext;
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }
}
