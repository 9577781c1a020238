/**
 * Reads the operator's list of trusted OIDC issuers from the environment
 * (SYMBOLON_OIDC_ISSUERS, a JSON array) or a file (SYMBOLON_OIDC_ISSUERS_FILE,
 * the path of a JSON file holding the same array, or `{"issuers": [...]}`).
 * Each entry: `{ issuer, audiences | audience, jwksUri?, jwks?, algorithms? }`.
 * See docs/identity.md.
 */
import { readFileSync } from 'node:fs';
import { checkTrustedIssuer, type CheckedIssuer } from './trusted-issuer.js';

/** The list was unreadable or invalid; the message says which entry and field. */
export class IssuerConfigError extends Error {
  override name = 'IssuerConfigError';
}

function parseList(text: string, where: string): CheckedIssuer[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new IssuerConfigError(`${where} is not valid JSON`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { issuers?: unknown } | null)?.issuers;
  if (!Array.isArray(list)) throw new IssuerConfigError(`${where} must be a JSON array of issuers (or {"issuers": [...]})`);
  return list.map((entry, i) => {
    try {
      return checkTrustedIssuer(entry, `${where}[${i}]`);
    } catch (e) {
      throw new IssuerConfigError((e as Error).message);
    }
  });
}

/**
 * Returns the trusted issuers named by the environment variable and/or the
 * file (both may be used; an issuer listed twice is an error).
 * @throws {IssuerConfigError} when either source is unreadable or invalid.
 */
export function loadTrustedIssuers(options: { json?: string | undefined; file?: string | undefined }): CheckedIssuer[] {
  const out: CheckedIssuer[] = [];
  if (options.json !== undefined && options.json.trim() !== '') out.push(...parseList(options.json, 'SYMBOLON_OIDC_ISSUERS'));
  if (options.file) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (e) {
      throw new IssuerConfigError(`SYMBOLON_OIDC_ISSUERS_FILE ${options.file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    out.push(...parseList(text, options.file));
  }
  const seen = new Set<string>();
  for (const i of out) {
    if (seen.has(i.issuer)) throw new IssuerConfigError(`issuer ${i.issuer} is configured twice`);
    seen.add(i.issuer);
  }
  return out;
}
