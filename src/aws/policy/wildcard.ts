/**
 * IAM's wildcard matching: `*` matches any run of characters (including none),
 * `?` exactly one, everything else itself. Used for Action (case-insensitive),
 * Resource, StringLike and ArnLike (case-sensitive). Pure.
 * See IAM User Guide, "IAM JSON policy elements: Action / Resource" and
 * "Condition operators: String condition operators".
 *
 * The matcher is the greedy two-pointer glob algorithm, not a regular
 * expression: a backtracking RegExp for `*-*-*-prod` costs O(n³) on a value of
 * n characters (issue #12, item 5: a 1.6 KB encryption-context value held the
 * server for seconds). Here a mismatch only ever moves back to just after the
 * last `*` seen, so the work is at most (n + 1) × (longest run of pattern
 * characters between two `*`) + pattern length: linear in the value.
 * Characters are code points (as the former `u`-flag RegExp matched them);
 * case-insensitive matching compares simple case folds.
 */

/** A pattern part: `literal` parts (substituted policy variables) never act as wildcards. */
export interface PatternPart {
  text: string;
  literal: boolean;
}

/** A compiled pattern; `test` answers whether a whole value matches. */
export interface WildcardMatcher {
  test(value: string): boolean;
}

// Tokens: STAR and ANY are wildcards; any other entry is one (folded) code point.
const STAR = 0;
const ANY = 1;
type Token = typeof STAR | typeof ANY | string;

/** The simple case fold of one code point (what a RegExp with the `iu` flags compares). */
function fold(ch: string): string {
  const f = ch.toUpperCase().toLowerCase();
  // Full case mappings that change length (ß -> SS, İ -> i̇) are not simple folds.
  return [...f].length === 1 ? f : ch;
}

function tokenize(parts: readonly PatternPart[], caseInsensitive: boolean): Token[] {
  const tokens: Token[] = [];
  for (const p of parts) {
    for (const ch of p.text) {
      if (!p.literal && ch === '*') {
        // Consecutive stars are one star.
        if (tokens[tokens.length - 1] !== STAR) tokens.push(STAR);
      } else if (!p.literal && ch === '?') tokens.push(ANY);
      else tokens.push(caseInsensitive ? fold(ch) : ch);
    }
  }
  return tokens;
}

/** Counts the steps of one match, for tests that assert the work is linear. */
export interface StepCounter {
  steps: number;
}

function matchTokens(tokens: readonly Token[], value: string, caseInsensitive: boolean, counter?: StepCounter): boolean {
  const chars = Array.from(value);
  let t = 0; // next pattern token
  let v = 0; // next value character
  let starT = -1; // token index just after the last `*` seen
  let starV = 0; // value index that `*` has been extended to
  let steps = 0;
  try {
    while (v < chars.length) {
      steps++;
      const tok = tokens[t];
      if (tok === STAR) {
        starT = ++t;
        starV = v;
        continue;
      }
      if (tok !== undefined && (tok === ANY || tok === (caseInsensitive ? fold(chars[v]!) : chars[v]))) {
        t++;
        v++;
        continue;
      }
      // Mismatch: let the last `*` swallow one more character and retry the run after it.
      if (starT < 0) return false;
      t = starT;
      v = ++starV;
    }
    while (tokens[t] === STAR) {
      steps++;
      t++;
    }
    return t === tokens.length;
  } finally {
    if (counter) counter.steps += steps;
  }
}

/**
 * Compiles a pattern (with `*` and `?` wildcards in non-literal parts) to a
 * matcher that tests whole values in time linear in the value's length.
 */
export function compileWildcard(pattern: string | readonly PatternPart[], caseInsensitive: boolean): WildcardMatcher {
  const parts = typeof pattern === 'string' ? [{ text: pattern, literal: false }] : pattern;
  const tokens = tokenize(parts, caseInsensitive);
  return { test: (value: string) => matchTokens(tokens, value, caseInsensitive) };
}

/** Matches like {@link compileWildcard}, adding the steps taken to `counter`. */
export function wildcardMatchCounted(pattern: string, value: string, caseInsensitive: boolean, counter: StepCounter): boolean {
  return matchTokens(tokenize([{ text: pattern, literal: false }], caseInsensitive), value, caseInsensitive, counter);
}

// Compiled plain patterns, reused across requests (the Sign hot path evaluates the same few).
const compiled = new Map<string, WildcardMatcher>();
const COMPILED_MAX = 4_096;

/** True when `value` matches `pattern` (a plain string pattern). */
export function wildcardMatch(pattern: string, value: string, caseInsensitive: boolean): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*') && !pattern.includes('?')) {
    return caseInsensitive ? pattern.toLowerCase() === value.toLowerCase() : pattern === value;
  }
  const cacheKey = caseInsensitive ? `i${pattern}` : `s${pattern}`;
  let m = compiled.get(cacheKey);
  if (!m) {
    m = compileWildcard(pattern, caseInsensitive);
    if (compiled.size >= COMPILED_MAX) compiled.clear();
    compiled.set(cacheKey, m);
  }
  return m.test(value);
}
