/**
 * JSON over fetch for the wallet API and the built-in issuer, which both
 * answer errors as `{"error": {"code", "message"}}` with stable codes.
 */
import { WalletApiError } from './errors.js';

/**
 * Sends a request and returns the parsed JSON body of a 2xx answer.
 * @throws {WalletApiError} with the server's code (or `http_<status>`) otherwise.
 */
export async function httpJson<T>(
  doFetch: typeof fetch,
  url: string,
  init: { method: 'GET' | 'POST'; body?: unknown; bearer?: string /** A body already serialised as JSON (e.g. with bigints as decimals). */; json?: string },
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.bearer !== undefined) headers.authorization = `Bearer ${init.bearer}`;
  const body = init.json ?? (init.body !== undefined ? JSON.stringify(init.body) : undefined);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await doFetch(url, { method: init.method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let json: unknown;
  try {
    json = text.length ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const code = typeof err?.code === 'string' ? err.code : `http_${res.status}`;
    const message = typeof err?.message === 'string' ? err.message : `HTTP ${res.status} from ${new URL(url).pathname}`;
    throw new WalletApiError(code, message, res.status);
  }
  return { status: res.status, body: json as T };
}
