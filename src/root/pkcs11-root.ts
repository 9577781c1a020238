/**
 * A root key inside a PKCS#11 token (an HSM; SoftHSM2 in the tests): an
 * AES-256 key generated in the token, sensitive and non-extractable, that
 * wraps and unwraps the store key with CKM_AES_GCM (a fresh 96-bit IV, the
 * caller's associated data, a 128-bit tag). The key bytes never leave the
 * token; the custodian talks to it once at start-up (src/server/custodian.ts)
 * and closes the session, so the hot path never touches the token.
 *
 * Binding: pkcs11js (src/root/pkcs11-root.ts is its only user), the low-level
 * N-API binding maintained by PeculiarVentures, on which graphene-pk11 itself
 * is built: one native addon and no further runtime dependencies, and the
 * calls here map one to one onto the PKCS#11 functions they name.
 *
 * A wrapped store key is: 0x01 || IV (12) || ciphertext || tag (16).
 */
import { randomBytes } from 'node:crypto';
import { concatBytes } from '../crypto/bytes.js';
import { RootKeyError, type RootKey, type StoreKeyBinding } from './root-of-trust.js';
import type { Pkcs11Settings } from './settings.js';

type Pkcs11Module = typeof import('pkcs11js');
type Pkcs11 = InstanceType<Pkcs11Module['PKCS11']>;
type Handle = Buffer;

const WRAP_FORMAT = 0x01;
const IV_BYTES = 12;
const TAG_BITS = 128;

/** The PKCS#11 return-value name of an error from the binding (e.g. CKR_PIN_INCORRECT), or undefined. */
function ckr(e: unknown): string | undefined {
  const m = /\b(CKR_[A-Z_]+)\b/.exec(String((e as { message?: unknown })?.message ?? ''));
  return m?.[1];
}

function trimLabel(label: string): string {
  return label.replace(/[\s\0]+$/, '');
}

export interface OpenPkcs11Options {
  /** Generate the root key in the token when none has the label (a fresh store only). */
  createKey: boolean;
}

/**
 * Opens a session on the token and finds (or, on a fresh store, generates) the root key.
 * @throws {RootKeyError} naming the cause: the module does not load, no token has the label, the PIN is rejected, the key is missing.
 */
export async function openPkcs11Root(settings: Pkcs11Settings, options: OpenPkcs11Options): Promise<Pkcs11RootKey> {
  let mod: Pkcs11Module;
  try {
    mod = (await import('pkcs11js')).default as unknown as Pkcs11Module;
  } catch {
    throw new RootKeyError('SYMBOLON_ROOT=pkcs11 needs the pkcs11js module, which did not load (reinstall dependencies)');
  }
  const p11 = new mod.PKCS11();
  try {
    p11.load(settings.module);
  } catch {
    throw new RootKeyError(`SYMBOLON_PKCS11_MODULE: the PKCS#11 library ${settings.module} could not be loaded (no such file, or not a PKCS#11 module)`);
  }
  let initialized = false;
  let returned = false;
  let session: Handle | undefined;
  try {
    try {
      p11.C_Initialize();
      initialized = true;
    } catch (e) {
      throw new RootKeyError(`the PKCS#11 library ${settings.module} failed to initialise (${ckr(e) ?? 'error'}); check its configuration`);
    }
    const slot = findSlot(p11, settings.tokenLabel);
    session = p11.C_OpenSession(slot, mod.CKF_SERIAL_SESSION | mod.CKF_RW_SESSION);
    try {
      p11.C_Login(session, mod.CKU_USER, settings.pin);
    } catch (e) {
      const code = ckr(e);
      if (code === 'CKR_PIN_INCORRECT' || code === 'CKR_PIN_INVALID' || code === 'CKR_PIN_LEN_RANGE')
        throw new RootKeyError(`SYMBOLON_PKCS11_PIN was rejected by token "${settings.tokenLabel}" (${code})`);
      if (code === 'CKR_PIN_LOCKED') throw new RootKeyError(`token "${settings.tokenLabel}" has locked its user PIN (CKR_PIN_LOCKED)`);
      if (code !== 'CKR_USER_ALREADY_LOGGED_IN') throw new RootKeyError(`login to token "${settings.tokenLabel}" failed (${code ?? 'error'})`);
    }
    let key = findKey(p11, mod, session, settings.keyLabel);
    if (!key) {
      if (!options.createKey)
        throw new RootKeyError(
          `the root key "${settings.keyLabel}" (SYMBOLON_PKCS11_KEY_LABEL) is not on token "${settings.tokenLabel}", but this store holds data wrapped under it. Refusing to start; nothing was written.`,
        );
      key = generateKey(p11, mod, session, settings.keyLabel);
    }
    const root = new Pkcs11RootKey(p11, mod, session, key, `PKCS#11 key "${settings.keyLabel}" on token "${settings.tokenLabel}"`);
    returned = true;
    return root;
  } finally {
    if (!returned) {
      // Everything opened here is released; a returned root releases it in close().
      try {
        if (session) p11.C_CloseSession(session);
        if (initialized) p11.C_Finalize();
      } catch {
        // already closed or finalised
      }
      p11.close();
    }
  }
}

function findSlot(p11: Pkcs11, label: string): Handle {
  const seen: string[] = [];
  for (const slot of p11.C_GetSlotList(true)) {
    const tokenLabel = trimLabel(p11.C_GetTokenInfo(slot).label);
    if (tokenLabel === label) return slot;
    if (tokenLabel !== '') seen.push(tokenLabel); // an uninitialised token has no label
  }
  throw new RootKeyError(
    `no PKCS#11 token is labelled "${label}" (SYMBOLON_PKCS11_TOKEN_LABEL)${seen.length > 0 ? `; tokens present: ${seen.map((s) => `"${s}"`).join(', ')}` : '; no initialised token is present'}`,
  );
}

function findKey(p11: Pkcs11, mod: Pkcs11Module, session: Handle, label: string): Handle | undefined {
  p11.C_FindObjectsInit(session, [
    { type: mod.CKA_CLASS, value: mod.CKO_SECRET_KEY },
    { type: mod.CKA_KEY_TYPE, value: mod.CKK_AES },
    { type: mod.CKA_LABEL, value: label },
  ]);
  let found: Handle[];
  try {
    found = p11.C_FindObjects(session, 2);
  } finally {
    p11.C_FindObjectsFinal(session);
  }
  if (found.length > 1) throw new RootKeyError(`token holds more than one AES key labelled "${label}"; label the root key uniquely`);
  return found[0];
}

/** An AES-256 token object: private, sensitive, never extractable, usable only to encrypt and decrypt. */
function generateKey(p11: Pkcs11, mod: Pkcs11Module, session: Handle, label: string): Handle {
  return p11.C_GenerateKey(session, { mechanism: mod.CKM_AES_KEY_GEN }, [
    { type: mod.CKA_CLASS, value: mod.CKO_SECRET_KEY },
    { type: mod.CKA_KEY_TYPE, value: mod.CKK_AES },
    { type: mod.CKA_VALUE_LEN, value: 32 },
    { type: mod.CKA_LABEL, value: label },
    { type: mod.CKA_TOKEN, value: true },
    { type: mod.CKA_PRIVATE, value: true },
    { type: mod.CKA_SENSITIVE, value: true },
    { type: mod.CKA_EXTRACTABLE, value: false },
    { type: mod.CKA_ENCRYPT, value: true },
    { type: mod.CKA_DECRYPT, value: true },
    { type: mod.CKA_WRAP, value: false },
    { type: mod.CKA_UNWRAP, value: false },
  ]);
}

/** A logged-in session on the token and the root key's handle, until `close`. */
export class Pkcs11RootKey implements RootKey {
  readonly kind = 'pkcs11' as const;
  readonly description: string;
  readonly #p11: Pkcs11;
  readonly #mod: Pkcs11Module;
  #session: Handle | undefined;
  readonly #key: Handle;

  constructor(p11: Pkcs11, mod: Pkcs11Module, session: Handle, key: Handle, description: string) {
    this.#p11 = p11;
    this.#mod = mod;
    this.#session = session;
    this.#key = key;
    this.description = description;
  }

  #gcm(iv: Uint8Array, aad: Uint8Array) {
    return {
      mechanism: this.#mod.CKM_AES_GCM,
      parameter: { type: this.#mod.CK_PARAMS_AES_GCM_v240, iv: Buffer.from(iv), aad: Buffer.from(aad), ivBits: iv.length * 8, tagBits: TAG_BITS },
    };
  }

  #live(): Handle {
    if (!this.#session) throw new RootKeyError('the PKCS#11 root was closed');
    return this.#session;
  }

  async wrap(storeKey: Uint8Array, { aad }: StoreKeyBinding): Promise<Uint8Array> {
    const session = this.#live();
    const iv = new Uint8Array(randomBytes(IV_BYTES));
    this.#p11.C_EncryptInit(session, this.#gcm(iv, aad), this.#key);
    const out = Buffer.alloc(storeKey.length + TAG_BITS / 8);
    const ct = this.#p11.C_Encrypt(session, Buffer.from(storeKey.buffer, storeKey.byteOffset, storeKey.byteLength), out);
    return concatBytes(Uint8Array.of(WRAP_FORMAT), iv, new Uint8Array(ct));
  }

  async unwrap(wrapped: Uint8Array, { aad }: StoreKeyBinding): Promise<Uint8Array> {
    const session = this.#live();
    if (wrapped.length < 1 + IV_BYTES + TAG_BITS / 8 || wrapped[0] !== WRAP_FORMAT)
      throw new RootKeyError('the stored store key has an unknown wrapping format');
    const iv = wrapped.subarray(1, 1 + IV_BYTES);
    const ct = wrapped.subarray(1 + IV_BYTES);
    const out = Buffer.alloc(ct.length);
    try {
      this.#p11.C_DecryptInit(session, this.#gcm(iv, aad), this.#key);
      // A copy the caller wipes; `out` is wiped here.
      return new Uint8Array(this.#p11.C_Decrypt(session, Buffer.from(ct), out));
    } catch (e) {
      const code = ckr(e);
      if (code === 'CKR_ENCRYPTED_DATA_INVALID' || code === 'CKR_ENCRYPTED_DATA_LEN_RANGE' || code === 'CKR_GENERAL_ERROR' || code === 'CKR_FUNCTION_FAILED')
        throw new RootKeyError(
          `The root key from ${this.description} does not match this store: its store key was wrapped under a different root key. Refusing to start; configure the original token and key.`,
        );
      throw new RootKeyError(`the token failed to unwrap the store key (${code ?? 'error'})`);
    } finally {
      out.fill(0);
    }
  }

  async close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (!session) return;
    try {
      this.#p11.C_Logout(session);
    } catch {
      // not logged in
    }
    try {
      this.#p11.C_CloseSession(session);
    } finally {
      try {
        this.#p11.C_Finalize();
      } finally {
        this.#p11.close();
      }
    }
  }
}
