/** Reading the custodian's /metrics text (Prometheus exposition format) in tests. */

/** The value of the sample `name` with exactly these labels, or undefined when there is no such line. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = new Map([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (want.length === got.size && want.every(([k, v]) => got.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}
