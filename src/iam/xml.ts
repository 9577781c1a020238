/**
 * XML for AWS's query protocol (IAM API Reference, "Making query requests"):
 * `<ActionResponse xmlns=…><ActionResult>…</ActionResult><ResponseMetadata>
 * <RequestId>…</RequestId></ResponseMetadata></ActionResponse>`, lists as
 * `<member>` elements, timestamps in ISO 8601, and the error envelope
 * `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.
 */

export const IAM_XMLNS = 'https://iam.amazonaws.com/doc/2010-05-08/';

/** Escapes text for an XML element body. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;'));
}

/** `<name>escaped text</name>`, or '' for undefined. */
export function el(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** `<name>` around already-built XML. */
export function wrap(name: string, inner: string): string {
  return `<${name}>${inner}</${name}>`;
}

/** A list: `<name><member>…</member>…</name>`. */
export function members(name: string, items: readonly string[]): string {
  return wrap(name, items.map((i) => wrap('member', i)).join(''));
}

/** IAM timestamps: ISO 8601 in UTC, whole seconds. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The full response document for `action`; `result` is the inner XML of <ActionResult>, or undefined for none. */
export function responseDocument(action: string, result: string | undefined, requestId: string): string {
  const body = result === undefined ? '' : wrap(`${action}Result`, result);
  return `<${action}Response xmlns="${IAM_XMLNS}">${body}${wrap('ResponseMetadata', el('RequestId', requestId))}</${action}Response>`;
}

/** The error document. */
export function errorDocument(code: string, message: string, requestId: string, type: 'Sender' | 'Receiver'): string {
  return `<ErrorResponse xmlns="${IAM_XMLNS}">${wrap('Error', el('Type', type) + el('Code', code) + el('Message', message))}${el('RequestId', requestId)}</ErrorResponse>`;
}
