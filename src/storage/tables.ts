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
  /**
   * When the key first made a ciphertext (Encrypt, GenerateDataKey*, ReEncrypt to it); null: never.
   * Written only by markKeyProtected (keys.repository.ts), never by a key update.
   */
  first_protected_at: number | null;
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

/** One KMS grant; `operations` is a JSON array, `constraints` JSON or null (src/kms/grants.ts). */
export interface KmsGrantTable {
  grant_id: string;
  key_id: string;
  name: string | null;
  grantee_principal: string;
  retiring_principal: string | null;
  issuing_account: string;
  operations: string;
  constraints: string | null;
  /** SHA-256 of the canonical parameters; with `name`, what makes CreateGrant idempotent. */
  params_sha256: string;
  created_at: number;
}

export interface IamAccessKeyTable {
  access_key_id: string;
  user_name: string;
  principal_arn: string;
  /** The secret access key sealed under the root of trust (SigV4 needs the secret itself; see the README's security model). */
  sealed_secret: Uint8Array;
  status: string;
  created_at: number;
}

/** One audit event; `hash` = SHA-256(previous hash || canonical JSON of the fields), see docs/audit.md. */
export interface AuditEventTable {
  seq: number;
  time: number;
  request_id: string;
  service: string;
  operation: string;
  principal_arn: string | null;
  /** Canonical JSON object. */
  principal_tags: string;
  access_key_id: string | null;
  source_ip: string;
  user_agent: string;
  key_arn: string | null;
  /** Canonical JSON object, or null. */
  encryption_context: string | null;
  signing_algorithm: string | null;
  outcome: string;
  error_code: string | null;
  /** Canonical JSON object of a signing decision's decoded fields, or null (every other event). */
  eth: string | null;
  /** `export` on the Decrypt event of a split wallet's key export (attested release purpose), else null. */
  release_purpose: string | null;
  /** Lower-case hex. */
  hash: string;
}

/** The single row (id 1) every append locks: the last sequence number and hash, and the last checkpoint. */
export interface AuditChainHeadTable {
  id: number;
  seq: number;
  hash: string;
  checkpoint_seq: number;
  checkpoint_time: number;
}

export interface AuditCheckpointKeyTable {
  key_id: string;
  algorithm: string;
  /** Lower-case hex of the raw public key. */
  public_key: string;
  created_at: number;
}

export interface AuditCheckpointTable {
  seq: number;
  hash: string;
  time: number;
  key_id: string;
  /** Lower-case hex. */
  signature: string;
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
  /** JSON array: the `amr` of the login that started the family (null: a family from before passkeys, an email code). */
  amr: string | null;
  /** When that login happened, milliseconds (null: before passkeys; the token's created_at stands in). */
  auth_time: number | null;
}

/** Passkeys (WebAuthn credentials) of built-in issuer users: public data only. */
export interface IdentityPasskeyTable {
  credential_id: string;
  sub: string;
  public_key: Uint8Array;
  counter: number;
  /** JSON array of AuthenticatorTransport strings. */
  transports: string;
  backup_eligible: number;
  backed_up: number;
  aaguid: string;
  created_at: number;
  last_used_at: number | null;
}

/** Single-use, expiring WebAuthn challenges. */
export interface IdentityWebauthnChallengeTable {
  challenge_id: string;
  challenge: string;
  /** register | login | step_up */
  purpose: string;
  sub: string | null;
  prior_amr: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** IAM users; `user_name_lower` keeps names unique regardless of case, as IAM does. */
export interface IamUserTable {
  user_name: string;
  user_name_lower: string;
  user_id: string;
  path: string;
  arn: string;
  created_at: number;
}

/** Tags on IAM users: the principal tags policies see as aws:PrincipalTag/<key>. */
export interface IamUserTagTable {
  user_name: string;
  tag_key: string;
  tag_value: string;
}

/** Inline identity policies (PutUserPolicy). */
export interface IamUserPolicyTable {
  user_name: string;
  policy_name: string;
  document: string;
  updated_at: number;
}

/** A key's quorum rule: `approvers` is a JSON array of principal ARNs; `threshold` approvals (M of N) apply a change. */
export interface KmsQuorumRuleTable {
  key_id: string;
  approvers: string;
  threshold: number;
  ttl_seconds: number;
  updated_at: number;
  updated_by: string;
}

/** A proposed permission change on a quorum-guarded key (a key policy, or a new quorum rule). */
/** The account-level quorum rule: one row, scope `account`. */
export interface AccountQuorumRuleTable {
  scope: string;
  approvers: string;
  threshold: number;
  ttl_seconds: number;
  updated_at: number;
  updated_by: string;
}

/** A permission change proposed under the account rule (IAM, key policy, grant, alias, the rule itself). */
export interface AccountChangeTable {
  change_id: string;
  /** The API action the change makes (PutUserPolicy, PutKeyPolicy, …). */
  kind: string;
  /** What it changes: a user or role name, an alias, a key ARN, `account`. */
  target: string;
  key_id: string | null;
  payload: string;
  payload_sha256: string;
  /** SHA-256 of the state the change replaces; a change whose base moved on is superseded. */
  base_sha256: string;
  proposer_arn: string;
  status: string;
  threshold: number;
  approvers: string;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  /** Why an approved change was not applied (SUPERSEDED). */
  outcome: string | null;
  /** CreateAccessKey changes: when the proposer collected the approved key. */
  redeemed_at: number | null;
}

/** A vote on a change; the same columns for both quorum stores (account_change_votes, kms_policy_change_votes). */
export interface ChangeVoteTable {
  change_id: string;
  approver_arn: string;
  vote: string;
  voted_at: number;
}

export interface KmsPolicyChangeTable {
  change_id: string;
  key_id: string;
  kind: string;
  payload: string;
  payload_sha256: string;
  /** SHA-256 of what the change replaces; a change whose base moved on is superseded. */
  base_sha256: string;
  proposer_arn: string;
  status: string;
  /** The rule in force when proposed (JSON approvers, threshold). */
  threshold: number;
  approvers: string;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
}

/** Wallet-store users: one per (issuer, sub); `master_key_id` is their key in the custodian. */
export interface WalletUserTable {
  id: string;
  issuer: string;
  sub: string;
  email: string | null;
  created_at: number;
  master_key_id: string | null;
  /** The custodian's stable user id (STS `uid`); null until first stamped. */
  uid: string | null;
  /** The master key's policy template when known (3); null: made before linked logins. */
  master_key_template: number | null;
  /** The sub the user's wallets name as encryption context (the custodian's `osub`); null: `sub`, as before. */
  context_sub: string | null;
}

/** One wallet per user; which columns are set depends on `custody_mode` (see the wallet migration). */
export interface WalletTable {
  id: string;
  user_id: string;
  address: string;
  /** envelope | split | kms */
  custody_mode: string;
  encrypted_private_key: Uint8Array | null;
  encrypted_data_key: Uint8Array | null;
  kms_key_id: string | null;
  share_b_sealed: Uint8Array | null;
  created_at: number;
  idempotency_key: string | null;
  /** split: the generation of the stored shares (0: made at creation); swapped with them. */
  share_generation: Generated<number>;
  /** 1: an operator asked for the shares to be rotated at the owner's next login. */
  rotation_required: Generated<number>;
  /** split: the owner's signing policy text the stored share A was sealed with; NULL: none. */
  signing_policy: Generated<string | null>;
  /** split: `device` when the stored generation has a third share on the owner's device; NULL: two shares. */
  share_factor: Generated<string | null>;
  /** split, factor device: share C wrapped by the owner's device key (AES-256-GCM; the store cannot open it). */
  wrapped_share_c_device: Generated<Uint8Array | null>;
  /** split, factor device: share C wrapped under the key derived from the owner's recovery code. */
  wrapped_share_c_recovery: Generated<Uint8Array | null>;
  /** split, factor device: share C wrapped under a key derived from a passkey's PRF output; NULL: no passkey wrap. */
  wrapped_share_c_passkey: Generated<Uint8Array | null>;
}

/** Sites a wallet user connected in the frame; the row is deleted when the user disconnects the site. */
export interface WalletSiteTable {
  user_id: string;
  origin: string;
  connected_at: number;
}

/** What a wallet user approved in the frame: one line each, never a signature or a message body. */
export interface WalletActivityTable {
  id: string;
  user_id: string;
  at: number;
  /** connect | disconnect | sign_message | sign_typed_data | sign_transaction | export_key */
  kind: string;
  site: string;
  summary: string;
  tx_hash: string | null;
}

/** IAM roles (CreateRole): `trust_policy` is the AssumeRolePolicyDocument as given. */
export interface IamRoleTable {
  role_name: string;
  role_name_lower: string;
  role_id: string;
  path: string;
  arn: string;
  trust_policy: string;
  description: string | null;
  max_session_duration: number;
  created_at: number;
}

export interface IamRoleTagTable {
  role_name: string;
  tag_key: string;
  tag_value: string;
}

/** Inline permission policies of roles (PutRolePolicy). */
export interface IamRolePolicyTable {
  role_name: string;
  policy_name: string;
  document: string;
  updated_at: number;
}

/** STS sessions: the token only as its SHA-256 (hex), the secret sealed under the root bound to `session_id`. */
/** One login method of a user: a verified (issuer, subject) and the stable user id it belongs to (STS session tag `uid`). */
export interface StsIdentityLinkTable {
  issuer: string;
  subject: string;
  uid: string;
  /** The subject of the login the uid was created for (the same on every row of a uid). */
  origin_subject: string;
  created_at: number;
}

export interface StsSessionTable {
  session_id: string;
  access_key_id: string;
  token_sha256: string;
  sealed_secret: Uint8Array;
  role_name: string;
  role_id: string;
  session_name: string;
  principal_arn: string;
  /** JSON object of session tags. */
  tags: string;
  issuer: string;
  subject: string;
  audience: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  /** JSON array: the token's `amr` (how the user logged in); null when the token had none. */
  auth_methods: string | null;
  /** The token's `auth_time`, in milliseconds; null when it had none. */
  auth_time: number | null;
}

/** One monitoring webhook (src/audit/webhooks.ts); `events` is a JSON array of event types. */
export interface MonitorWebhookTable {
  webhook_id: string;
  url: string;
  events: string;
  /** Decimal wei, for `value.threshold`; null when the webhook has no threshold. */
  threshold_wei: string | null;
  window_seconds: number | null;
  /** The HMAC-SHA256 signing secret sealed under the root of trust, bound to webhook_id. */
  sealed_secret: Uint8Array;
  created_by: string;
  created_at: number;
}

/** An API token of the JSON-RPC signer: only its SHA-256 (hex) is stored; revoked_at set on revocation. */
export interface RpcTokenTable {
  token_id: string;
  token_sha256: string;
  user_name: string;
  principal_arn: string;
  created_by: string;
  created_at: number;
  revoked_at: number | null;
}

/** A KMS key's signing policy (docs/signing-policy.md): the JSON text as put. */
export interface KmsSigningPolicyTable {
  key_id: string;
  policy: string;
  updated_at: number;
  updated_by: string;
}

export interface KmsSigningUsageTable {
  /** Insertion order (identity / AUTOINCREMENT): on one key, commit order. */
  seq: Generated<number>;
  id: string;
  key_id: string;
  at: number;
  chain_id: string | null;
  value: string;
  token: string | null;
  erc20_amount: string | null;
}

/** The share generation a master key releases for one split wallet (src/kms/share-generation.ts). */
export interface KmsShareGenerationTable {
  key_id: string;
  /** EIP-55, as in share A's encryption context. */
  address: string;
  generation: number;
  /** Lower-case hex SHA-256 of the one share A ciphertext released at `generation`. */
  share_a_ciphertext_sha256: string;
  updated_at: number;
}

export interface Tables {
  symbolon_meta: MetaTable;
  kms_keys: KmsKeyTable;
  kms_key_material: KmsKeyMaterialTable;
  kms_aliases: KmsAliasTable;
  kms_key_tags: KmsKeyTagTable;
  kms_grants: KmsGrantTable;
  iam_access_keys: IamAccessKeyTable;
  iam_users: IamUserTable;
  iam_user_tags: IamUserTagTable;
  iam_user_policies: IamUserPolicyTable;
  kms_quorum_rules: KmsQuorumRuleTable;
  kms_policy_changes: KmsPolicyChangeTable;
  kms_policy_change_votes: ChangeVoteTable;
  kms_signing_policies: KmsSigningPolicyTable;
  kms_signing_usage: KmsSigningUsageTable;
  kms_share_generations: KmsShareGenerationTable;
  account_quorum_rule: AccountQuorumRuleTable;
  account_changes: AccountChangeTable;
  account_change_votes: ChangeVoteTable;
  audit_events: AuditEventTable;
  monitor_webhooks: MonitorWebhookTable;
  audit_chain_head: AuditChainHeadTable;
  audit_checkpoint_keys: AuditCheckpointKeyTable;
  audit_checkpoints: AuditCheckpointTable;
  identity_subjects: IdentitySubjectTable;
  identity_login_codes: IdentityLoginCodeTable;
  identity_refresh_tokens: IdentityRefreshTokenTable;
  identity_passkeys: IdentityPasskeyTable;
  identity_webauthn_challenges: IdentityWebauthnChallengeTable;
  wallet_users: WalletUserTable;
  wallets: WalletTable;
  wallet_sites: WalletSiteTable;
  wallet_activity: WalletActivityTable;
  iam_roles: IamRoleTable;
  iam_role_tags: IamRoleTagTable;
  iam_role_policies: IamRolePolicyTable;
  sts_sessions: StsSessionTable;
  sts_identity_links: StsIdentityLinkTable;
  rpc_tokens: RpcTokenTable;
}

export type { Generated };
