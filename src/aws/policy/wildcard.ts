/**
 * IAM's wildcard matching: `*` matches any run of characters (including none),
 * `?` exactly one, everything else itself. Used for Action (case-insensitive),
 * Resource, StringLike and ArnLike (case-sensitive). Pure.
 * See IAM User Guide, "IAM JSON policy elements: Action / Resource" and
 * "Condition operators: String condition operators".
 */

/** A pattern part: `literal` parts (substituted policy variables) never act as wildcards. */
export interface PatternPart {
  text: string;
  literal: boolean;
}

const REGEX_SPECIAL = /[.+^${}()|[\]\\*?]/g;

function escapeRegex(s: string): string {
  return s.replace(REGEX_SPECIAL, '\\$&');
}

/** Compiles a pattern (with `*` and `?` wildcards in non-literal parts) to an anchored RegExp. */
export function compileWildcard(pattern: string | readonly PatternPart[], caseInsensitive: boolean): RegExp {
  const parts = typeof pattern === 'string' ? [{ text: pattern, literal: false }] : pattern;
  let source = '';
  for (const p of parts) {
    if (p.literal) {
      source += escapeRegex(p.text);
      continue;
    }
    for (const ch of p.text) {
      if (ch === '*') source += '[\\s\\S]*';
      else if (ch === '?') source += '[\\s\\S]';
      else source += escapeRegex(ch);
    }
  }
  return new RegExp(`^${source}$`, caseInsensitive ? 'iu' : 'u');
}

// Compiled plain patterns, reused across requests (the Sign hot path evaluates the same few).
const compiled = new Map<string, RegExp>();
const COMPILED_MAX = 4_096;

/** True when `value` matches `pattern` (a plain string pattern). */
export function wildcardMatch(pattern: string, value: string, caseInsensitive: boolean): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*') && !pattern.includes('?')) {
    return caseInsensitive ? pattern.toLowerCase() === value.toLowerCase() : pattern === value;
  }
  const cacheKey = caseInsensitive ? `i${pattern}` : `s${pattern}`;
  let re = compiled.get(cacheKey);
  if (!re) {
    re = compileWildcard(pattern, caseInsensitive);
    if (compiled.size >= COMPILED_MAX) compiled.clear();
    compiled.set(cacheKey, re);
  }
  return re.test(value);
}
