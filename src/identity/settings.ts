/**
 * The identity module's settings, read by src/config.ts from the environment.
 */

/** Identity settings (docs/identity.md). */
export interface IdentitySettings {
  /** SYMBOLON_OIDC_ISSUERS: a JSON array of trusted issuers. */
  issuersJson: string | undefined;
  /** SYMBOLON_OIDC_ISSUERS_FILE: path of a JSON file with the same array. */
  issuersFile: string | undefined;
  /** SYMBOLON_BUILTIN_ISSUER: 1 on, 0 off; by default on in the embedded (SQLite) mode. */
  builtinIssuer: boolean;
  /** SYMBOLON_OIDC_AUDIENCE: the built-in issuer's `aud` (default symbolon). */
  audience: string;
  /** SYMBOLON_SMTP_URL: smtp(s)://[user:pass@]host[:port]; unset means development delivery. */
  smtpUrl: string | undefined;
  /** SYMBOLON_SMTP_FROM: sender address of login codes. */
  smtpFrom: string | undefined;
  /** SYMBOLON_DEV_MAILBOX=1, or the embedded default without SMTP: serve GET /oidc/dev/mailbox. */
  devMailbox: boolean;
}
