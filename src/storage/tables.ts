/**
 * Row types of every table, snake_case as in SQL. Repositories map them to
 * camelCase domain objects; nothing else touches these types.
 * Times are epoch milliseconds (BIGINT on PostgreSQL, parsed to number),
 * booleans are 0/1 integers on both dialects, byte columns are BLOB/BYTEA.
 */
import type { Generated } from 'kysely';

export interface MetaTable {
  name: string;
  value: Uint8Array;
}

export interface KmsKeyTable {
  key_id: string;
  account_id: string;
  region: string;
  key_spec: string;
  key_usage: string;
  key_state: string;
  origin: string;
  description: string;
  policy: string;
  created_at: number;
  deletion_at: number | null;
  pending_window_days: number | null;
  rotation_enabled: number;
  rotation_period_days: number | null;
  next_rotation_at: number | null;
  current_version: number;
  /** Bumped on every change, so caches in other processes can tell staleness. */
  revision: number;
}

export interface KmsKeyMaterialTable {
  key_id: string;
  version: number;
  /** Key material sealed under the root of trust, bound to (key_id, version). */
  sealed: Uint8Array;
  /** Public key (DER SPKI) for asymmetric keys; null for symmetric and HMAC. */
  public_key: Uint8Array | null;
  created_at: number;
  rotation_type: string | null;
}

export interface KmsAliasTable {
  alias_name: string;
  key_id: string;
  created_at: number;
  updated_at: number;
}

export interface KmsKeyTagTable {
  key_id: string;
  tag_key: string;
  tag_value: string;
}

export interface IamAccessKeyTable {
  access_key_id: string;
  user_name: string;
  principal_arn: string;
  /** The secret access key sealed under the root of trust (SigV4 needs the secret itself; see docs/security.md). */
  sealed_secret: Uint8Array;
  status: string;
  created_at: number;
}

/** The built-in issuer's subjects: a random, stable `sub` per normalised email. */
export interface IdentitySubjectTable {
  sub: string;
  email: string;
  created_at: number;
}

/** One-time login codes, stored as HMACs only (see src/identity/issuer/secrets.ts). */
export interface IdentityLoginCodeTable {
  code_id: string;
  email_key: string;
  ip_key: string;
  code_hash: Uint8Array;
  /** pending | used | superseded | locked | failed */
  state: string;
  attempts: number;
  created_at: number;
  expires_at: number;
}

/** Rotating refresh tokens, stored as HMACs only; a family is one login's chain of rotations. */
export interface IdentityRefreshTokenTable {
  token_hash: string;
  family_id: string;
  sub: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
}

export interface Tables {
  symbolon_meta: MetaTable;
  kms_keys: KmsKeyTable;
  kms_key_material: KmsKeyMaterialTable;
  kms_aliases: KmsAliasTable;
  kms_key_tags: KmsKeyTagTable;
  iam_access_keys: IamAccessKeyTable;
  identity_subjects: IdentitySubjectTable;
  identity_login_codes: IdentityLoginCodeTable;
  identity_refresh_tokens: IdentityRefreshTokenTable;
}

export type { Generated };
