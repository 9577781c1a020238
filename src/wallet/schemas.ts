/**
 * The wallet API's JSON schemas (JSON Schema 2020-12 subset, as OpenAPI 3.1
 * uses it): request bodies, validated before a handler runs, and responses,
 * which fastify's serializer follows field by field — a field not named here
 * (a share, a ciphertext of another mode, a column added later) never leaves
 * the server. The OpenAPI document is generated from these (openapi.ts).
 */
import { WALLET_ERROR_CODES } from './errors.js';

/** Decoded sizes accepted for envelope ciphertexts, in bytes. */
export const ENCRYPTED_PRIVATE_KEY_BYTES = { min: 60, max: 1024 } as const;
export const ENCRYPTED_DATA_KEY_BYTES = { min: 48, max: 6144 } as const;
export const IDEMPOTENCY_KEY_MAX = 128;
/** split: share A's CiphertextBlob (the custodian's, as for a data key) and share B (32 bytes). */
export const SHARE_A_CIPHERTEXT_BYTES = ENCRYPTED_DATA_KEY_BYTES;
export const SHARE_B_BYTES = 32;
/** split, factor device: share C wrapped by the device key or the recovery code's key (packages/sdk/src/split/deviceShare.ts). */
export const WRAPPED_SHARE_C_BYTES = { min: 45, max: 256 } as const;
/** The passkey wrap: 3 ‖ length (2) ‖ credential id (1 to 1023 bytes) ‖ iv (12) ‖ ciphertext+tag (48). */
export const PASSKEY_WRAPPED_SHARE_C_BYTES = { min: 64, max: 1086 } as const;

const base64Chars = (bytes: { min: number; max: number }) => ({ minLength: 4 * Math.ceil(bytes.min / 3), maxLength: 4 * Math.ceil(bytes.max / 3) });

const address = {
  type: 'string',
  pattern: '^0x[0-9a-fA-F]{40}$',
  description: 'Ethereum address; mixed case must be a valid EIP-55 checksum. Returned checksummed.',
} as const;

const custodyMode = { type: 'string', enum: ['envelope', 'split', 'kms'], description: 'How the key is held; this server offers envelope and split.' } as const;

const timestamp = { type: 'string', description: 'ISO 8601 time (UTC).' } as const;

export const errorResponse = {
  type: 'object',
  description: 'An error with a stable code.',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: {
        code: { type: 'string', enum: WALLET_ERROR_CODES },
        message: { type: 'string' },
      },
    },
  },
} as const;

export const rotateSharesBody = {
  type: 'object',
  additionalProperties: false,
  required: ['fromGeneration', 'shareACiphertext', 'shareB', 'proof'],
  properties: {
    fromGeneration: {
      type: 'integer',
      minimum: 0,
      maximum: 2147483646,
      description: 'The generation the device read and the signer re-split (compare-and-set).',
    },
    shareACiphertext: {
      type: 'string',
      description: `The signer's new share A ciphertext (POST /v1/rotate; context {"sub", "address", "generation": fromGeneration + 1}; base64, ${SHARE_A_CIPHERTEXT_BYTES.min}-${SHARE_A_CIPHERTEXT_BYTES.max} bytes).`,
    },
    shareB: { type: 'string', description: `The signer's new share B (base64, ${SHARE_B_BYTES} bytes); sealed before it is stored.` },
    proof: {
      type: 'string',
      pattern: '^0x[0-9a-fA-F]{130}$',
      description: "The signer's signature with the wallet's key over the new shares (docs/signer.md).",
    },
    signingPolicy: {
      type: 'string',
      minLength: 1,
      maxLength: 32768,
      description:
        "The owner's signing policy the new share A is sealed with (POST /v1/rotate's newSigningPolicy, or the current one kept); absent: none. The proof names its SHA-256 (docs/signing-policy.md).",
    },
    factor: {
      type: 'string',
      enum: ['device'],
      description: "`device`: the new generation has a third share on the owner's device (POST /v1/rotate's factor); the proof names it. Absent: two shares.",
    },
    shareCWrapped: {
      type: 'string',
      description: `factor device: share C wrapped by the owner's device key (base64, ${WRAPPED_SHARE_C_BYTES.min}-${WRAPPED_SHARE_C_BYTES.max} bytes); stored as given, served to the owner only.`,
    },
    shareCRecoveryWrapped: {
      type: 'string',
      description: `factor device: share C wrapped under the key derived from the owner's recovery code (base64, ${WRAPPED_SHARE_C_BYTES.min}-${WRAPPED_SHARE_C_BYTES.max} bytes).`,
    },
    shareCPasskeyWrapped: {
      type: 'string',
      description: `factor device, optional: share C wrapped under a key derived from a passkey's PRF output (base64, ${PASSKEY_WRAPPED_SHARE_C_BYTES.min}-${PASSKEY_WRAPPED_SHARE_C_BYTES.max} bytes; docs/signer.md, "The passkey wrap").`,
    },
  },
} as const;

export const createWalletBody = {
  type: 'object',
  additionalProperties: false,
  required: ['custodyMode', 'address'],
  properties: {
    custodyMode,
    address,
    encryptedPrivateKey: {
      type: 'string',
      ...base64Chars(ENCRYPTED_PRIVATE_KEY_BYTES),
      description: `envelope: the private key sealed on the device with AES-256-GCM under a fresh data key (base64, ${ENCRYPTED_PRIVATE_KEY_BYTES.min}-${ENCRYPTED_PRIVATE_KEY_BYTES.max} bytes).`,
    },
    encryptedDataKey: {
      type: 'string',
      ...base64Chars(ENCRYPTED_DATA_KEY_BYTES),
      description: `envelope: the custodian's CiphertextBlob of the data key, encrypted under the user's master key with encryption context {"sub": <sub>} (base64, ${ENCRYPTED_DATA_KEY_BYTES.min}-${ENCRYPTED_DATA_KEY_BYTES.max} bytes).`,
    },
    shareACiphertext: {
      type: 'string',
      ...base64Chars(SHARE_A_CIPHERTEXT_BYTES),
      description: `split: the custodian's CiphertextBlob of share A, encrypted by the device under the user's master key with encryption context {"sub": <sub>, "address": <EIP-55 address>} (base64, ${SHARE_A_CIPHERTEXT_BYTES.min}-${SHARE_A_CIPHERTEXT_BYTES.max} bytes). Stored as opaque bytes.`,
    },
    shareB: {
      type: 'string',
      ...base64Chars({ min: SHARE_B_BYTES, max: SHARE_B_BYTES }),
      description: `split: share B (key XOR share A; base64, ${SHARE_B_BYTES} bytes). Sealed under the provider's key before it is stored.`,
    },
    idempotencyKey: {
      type: 'string',
      pattern: `^[\\x21-\\x7e]{1,${IDEMPOTENCY_KEY_MAX}}$`,
      description: 'Repeating a create with the same key and content returns the stored wallet (200) instead of 409.',
    },
  },
  // Each mode's own fields; fields of another mode are refused by the handler, naming them.
  allOf: [
    { if: { properties: { custodyMode: { const: 'envelope' } } }, then: { required: ['encryptedPrivateKey', 'encryptedDataKey'] } },
    { if: { properties: { custodyMode: { const: 'split' } } }, then: { required: ['shareACiphertext', 'shareB'] } },
  ],
} as const;

const envelope = {
  type: 'object',
  description: 'envelope mode, to the owner only: what the device needs to decrypt its key.',
  required: ['encryptedPrivateKey', 'encryptedDataKey', 'kmsKeyId', 'encryptionContext'],
  additionalProperties: false,
  properties: {
    encryptedPrivateKey: { type: 'string', description: 'base64' },
    encryptedDataKey: { type: 'string', description: 'base64 CiphertextBlob for the custodian’s Decrypt.' },
    kmsKeyId: { type: 'string', description: "The user's master key." },
    encryptionContext: {
      type: 'object',
      required: ['sub'],
      additionalProperties: false,
      properties: { sub: { type: 'string' } },
    },
  },
} as const;

const split = {
  type: 'object',
  description: 'split mode, to the owner only: what the device sends to the signer (POST /v1/sign).',
  required: ['shareACiphertext', 'shareB', 'kmsKeyId', 'encryptionContext', 'generation', 'rotationRequired'],
  additionalProperties: false,
  properties: {
    generation: { type: 'integer', description: 'The share generation (0: the shares made at creation); send it to the signer with the shares.' },
    rotationRequired: { type: 'boolean', description: 'An operator asked for the shares to be rotated; the frame rotates them at login.' },
    shareACiphertext: {
      type: 'string',
      description: 'base64 CiphertextBlob of share A, as the device uploaded it (only the custodian opens it, for an attested signer).',
    },
    shareB: { type: 'string', description: 'base64, 32 bytes: share B, unsealed for its owner.' },
    kmsKeyId: { type: 'string', description: "The user's master key." },
    encryptionContext: {
      type: 'object',
      required: ['sub', 'address'],
      additionalProperties: false,
      properties: {
        sub: { type: 'string' },
        address,
        generation: { type: 'string', description: 'From generation 1 on.' },
        'signing-policy-sha256': { type: 'string', description: 'The SHA-256 of signingPolicy, when the wallet has one.' },
        factor: { type: 'string', description: "`device`, when the generation has a third share on the owner's device." },
      },
    },
    factor: { type: 'string', enum: ['device'], description: "The generation has a third share on the owner's device: send share C to the signer too." },
    shareCWrapped: { type: 'string', description: "base64: share C wrapped by the owner's device key; only that device unwraps it." },
    shareCRecoveryWrapped: { type: 'string', description: "base64: share C wrapped under the key derived from the owner's recovery code." },
    shareCPasskeyWrapped: { type: 'string', description: "base64: share C wrapped under a key derived from a passkey's PRF output (absent: none)." },
    signingPolicy: {
      type: 'string',
      description: "The owner's signing policy share A is sealed with (absent: none); send it to the signer with the shares (docs/signing-policy.md).",
    },
  },
} as const;

export const walletResponse = {
  type: 'object',
  description: 'A wallet.',
  required: ['id', 'address', 'custodyMode', 'createdAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    address,
    custodyMode,
    createdAt: timestamp,
    envelope,
    split,
  },
} as const;

export const meResponse = {
  type: 'object',
  description: 'The caller, as the wallet store knows them.',
  required: ['id', 'issuer', 'sub', 'email', 'masterKeyId', 'createdAt', 'wallet'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    issuer: { type: 'string', description: "The issuer of this request's login." },
    sub: { type: 'string', description: "The subject of this request's login (one of the user's linked logins)." },
    userId: {
      type: ['string', 'null'],
      description: "The custodian's user id (STS `uid`) every linked login of the user shares; null with a custodian without linked logins.",
    },
    email: { type: ['string', 'null'] },
    masterKeyId: { type: 'string', description: "The user's master key in the custodian (encrypt the data key under it)." },
    createdAt: timestamp,
    wallet: {
      type: ['object', 'null'],
      required: ['id', 'address', 'custodyMode'],
      additionalProperties: false,
      properties: { id: { type: 'string' }, address, custodyMode },
    },
  },
} as const;

/** An exact web origin (scheme://host[:port]), as the frame's DApps have. */
const siteOrigin = {
  type: 'string',
  maxLength: 200,
  pattern: '^https?://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?$',
  description: 'A site’s exact origin: scheme://host[:port], no path.',
} as const;

const activityKind = {
  type: 'string',
  enum: ['connect', 'disconnect', 'sign_message', 'sign_typed_data', 'sign_transaction', 'export_key'],
  description: 'What the user did in the frame.',
} as const;

const txHash = { type: 'string', pattern: '^0x[0-9a-f]{64}$', description: 'sign_transaction: the hash of the signed transaction (lower-case hex).' } as const;

/** PUT /v1/me/sites: the site the user approved in the frame. */
export const siteBody = {
  type: 'object',
  additionalProperties: false,
  required: ['origin'],
  properties: { origin: siteOrigin },
} as const;

/** DELETE /v1/me/sites?origin=… */
export const siteQuery = siteBody;

const site = {
  type: 'object',
  required: ['origin', 'connectedAt'],
  additionalProperties: false,
  properties: { origin: { type: 'string' }, connectedAt: timestamp },
} as const;

export const siteResponse = site;

export const sitesResponse = {
  type: 'object',
  description: 'The sites the caller connected in the frame and has not disconnected, newest first.',
  required: ['sites'],
  additionalProperties: false,
  properties: { sites: { type: 'array', items: site } },
} as const;

export const disconnectResponse = {
  type: 'object',
  required: ['origin', 'disconnected'],
  additionalProperties: false,
  properties: { origin: { type: 'string' }, disconnected: { type: 'boolean', const: true } },
} as const;

/** POST /v1/me/activity: one line about what the user just approved in the frame. */
export const activityBody = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'site', 'summary'],
  properties: {
    kind: { type: 'string', enum: ['sign_message', 'sign_typed_data', 'sign_transaction', 'export_key'], description: 'What the user approved.' },
    site: siteOrigin,
    summary: {
      type: 'string',
      pattern: '^[^\\u0000-\\u001f\\u007f]{1,200}$',
      description: 'One line for people (1-200 characters, no control characters), e.g. "Send ETH: 0.01 ETH to 0x…".',
    },
    txHash,
  },
} as const;

export const activityQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'string', pattern: '^([1-9]|[1-4][0-9]|50)$', description: 'How many entries, 1-50 (default 20).' } },
} as const;

const activityEntry = {
  type: 'object',
  required: ['at', 'kind', 'site', 'summary'],
  additionalProperties: false,
  properties: { at: timestamp, kind: activityKind, site: { type: 'string' }, summary: { type: 'string' }, txHash },
} as const;

export const activityEntryResponse = activityEntry;

export const activityResponse = {
  type: 'object',
  description: "The caller's own recent activity in the frame, newest first.",
  required: ['events'],
  additionalProperties: false,
  properties: { events: { type: 'array', items: activityEntry } },
} as const;

/** Error responses every authenticated route declares. */
export const errorResponses = { '4xx': errorResponse, '5xx': errorResponse } as const;
