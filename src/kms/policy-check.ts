/**
 * Structural checks on a key policy document, with AWS's
 * MalformedPolicyDocumentException wording. The evaluation engine lives in
 * the access-control module; this only rejects what is not a policy at all.
 */

/** Returns a problem description, or undefined when the document is well formed. */
export function validatePolicyDocument(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'The policy document is not valid JSON.';
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return 'The policy document must be a JSON object.';
  const statements = (doc as { Statement?: unknown }).Statement;
  if (statements === undefined) return 'The policy document must contain a Statement.';
  const list = Array.isArray(statements) ? statements : [statements];
  for (const s of list) {
    if (!s || typeof s !== 'object') return 'Each policy statement must be a JSON object.';
    const st = s as Record<string, unknown>;
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') return 'Each policy statement must have an Effect of Allow or Deny.';
    if (st.Action === undefined && st.NotAction === undefined) return 'Each policy statement must have an Action or NotAction.';
  }
  return undefined;
}
