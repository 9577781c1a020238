/**
 * The one endpoint rule of every `symbolon` client command (admin, wallet):
 * `--endpoint`, else SYMBOLON_ENDPOINT, else the local server
 * http://127.0.0.1:8080. Real AWS only when asked for by name (`aws`), so a
 * forgotten flag never sends signed requests somewhere the user did not mean.
 */

/** The local server `symbolon serve` listens on by default. */
export const LOCAL_ENDPOINT = 'http://127.0.0.1:8080';

/** Where a command sends its requests: a Symbolon server's URL, or real AWS (the SDK's own endpoints). */
export type Target = { kind: 'symbolon'; url: string } | { kind: 'aws' };

/** `--endpoint` help lines shared by the commands. */
export const ENDPOINT_HELP = `  --endpoint URL|aws   Where requests go: a Symbolon server's URL, or \`aws\` for real
                       AWS. Default: SYMBOLON_ENDPOINT, else the local server
                       ${LOCAL_ENDPOINT}. AWS is never the default.`;

/**
 * Resolves the target from the flag and the environment.
 * @throws {RangeError} when the value is neither an http(s) URL nor `aws`.
 */
export function resolveTarget(flag: string | undefined, env: NodeJS.ProcessEnv): Target {
  const fromEnv = env.SYMBOLON_ENDPOINT || undefined;
  const value = flag ?? fromEnv ?? LOCAL_ENDPOINT;
  if (value.toLowerCase() === 'aws') return { kind: 'aws' };
  if (!/^https?:\/\/[^\s]+$/.test(value)) {
    throw new RangeError(`${flag !== undefined ? '--endpoint' : 'SYMBOLON_ENDPOINT'} must be an http:// or https:// URL, or aws`);
  }
  return { kind: 'symbolon', url: value };
}
