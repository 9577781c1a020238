/**
 * Policy variables (IAM User Guide, "IAM policy elements: Variables and tags"):
 * `${aws:username}`, `${aws:PrincipalTag/team}`, the escapes `${*}`, `${?}`,
 * `${$}`, and a default value `${aws:username, 'anonymous'}`. Only policies
 * with Version 2012-10-17 substitute; in 2008-10-17 the text is literal.
 * A variable naming a key the request does not carry (and without a default)
 * makes the value unresolvable: it then matches nothing. Pure.
 */
import type { PatternPart } from './wildcard.js';
import type { ConditionContext } from './request.js';
import type { PolicyVersion } from './version.js';

const VARIABLE = /\$\{([^}]*)\}/g;
const DEFAULT = /^\s*([^,\s]+)\s*,\s*'([^']*)'\s*$/;

/**
 * Substitutes variables in `text`. Substituted text is literal (never a wildcard).
 * @returns the parts, or undefined when a variable cannot be resolved.
 */
export function substitute(text: string, version: PolicyVersion, context: ConditionContext): PatternPart[] | undefined {
  if (version !== '2012-10-17' || !text.includes('${')) return [{ text, literal: false }];
  const parts: PatternPart[] = [];
  let last = 0;
  for (const m of text.matchAll(VARIABLE)) {
    const at = m.index;
    if (at > last) parts.push({ text: text.slice(last, at), literal: false });
    last = at + m[0].length;
    const inner = m[1]!;
    if (inner === '*' || inner === '?' || inner === '$') {
      parts.push({ text: inner, literal: true });
      continue;
    }
    const withDefault = DEFAULT.exec(inner);
    const key = withDefault ? withDefault[1]! : inner.trim();
    const values = context.get(key);
    // Multi-valued keys cannot stand in for one value.
    if (values && values.length === 1) parts.push({ text: values[0]!, literal: true });
    else if (withDefault) parts.push({ text: withDefault[2]!, literal: true });
    else return undefined;
  }
  if (last < text.length) parts.push({ text: text.slice(last), literal: false });
  return parts;
}

/** The substituted text as one string (for equality operators), or undefined when unresolvable. */
export function substituteText(text: string, version: PolicyVersion, context: ConditionContext): string | undefined {
  const parts = substitute(text, version, context);
  return parts?.map((p) => p.text).join('');
}
