/**
 * XML documents of STS's query protocol (STS API Reference, "Making query
 * requests"): `<ActionResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
 * <ActionResult>…</ActionResult><ResponseMetadata><RequestId/></ResponseMetadata>`
 * and the error envelope `<ErrorResponse><Error><Type/><Code/><Message/></Error>
 * <RequestId/></ErrorResponse>`. Element helpers are IAM's (src/iam/xml.ts).
 */
import { el, wrap } from '../iam/xml.js';

export const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
export const STS_VERSION = '2011-06-15';

/** The full response document for `action`; `result` is the inner XML of <ActionResult>. */
export function stsResponseDocument(action: string, result: string, requestId: string): string {
  return `<${action}Response xmlns="${STS_XMLNS}">${wrap(`${action}Result`, result)}${wrap('ResponseMetadata', el('RequestId', requestId))}</${action}Response>`;
}

/** The error document; `Sender` for the caller's faults, `Receiver` for ours. */
export function stsErrorDocument(code: string, message: string, requestId: string, type: 'Sender' | 'Receiver'): string {
  return `<ErrorResponse xmlns="${STS_XMLNS}">${wrap('Error', el('Type', type) + el('Code', code) + el('Message', message))}${el('RequestId', requestId)}</ErrorResponse>`;
}

/** STS timestamps (Credentials.Expiration): ISO 8601 in UTC, whole seconds as AWS sends them. */
export function stsTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
