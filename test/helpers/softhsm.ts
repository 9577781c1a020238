/**
 * SoftHSM2 for the PKCS#11 root's tests: a token directory and configuration
 * of a test file's own (SOFTHSM2_CONF, set for this process and its children),
 * fresh tokens initialised with softhsm2-util. Without SoftHSM2 the tests are
 * skipped, unless SYMBOLON_REQUIRE_HSM=1 (CI, which installs it): then they run
 * and fail.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so'];

/** The SoftHSM2 PKCS#11 library's path, if installed. */
export const SOFTHSM_MODULE = MODULES.find((m) => existsSync(m)) ?? MODULES[0]!;

function hasUtil(): boolean {
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A reason to skip (node:test's `skip`), or false when the tests must run. */
export const SKIP_WITHOUT_HSM: string | false =
  process.env.SYMBOLON_REQUIRE_HSM === '1' || (existsSync(SOFTHSM_MODULE) && hasUtil()) ? false : 'SoftHSM2 is not installed (apt-get install softhsm2)';

export const USER_PIN = '246810';
const SO_PIN = '13579111';

export interface SoftHsm {
  dir: string;
  /** Initialises a fresh token with this label (and USER_PIN). */
  initToken(label: string): void;
  /** Deletes the token with this label (its keys go with it). */
  deleteToken(label: string): void;
  /** The settings a server needs to use `label`'s token. */
  env(label: string, extra?: { pin?: string; keyLabel?: string }): Record<string, string>;
  cleanup(): void;
}

/** A token directory of this test file's own; sets SOFTHSM2_CONF for the process. */
export function softHsm(): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), 'symbolon-softhsm-'));
  mkdirSync(join(dir, 'tokens'));
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  const util = (args: string[]) => execFileSync('softhsm2-util', args, { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'pipe' });
  return {
    dir,
    initToken: (label) => util(['--init-token', '--free', '--label', label, '--so-pin', SO_PIN, '--pin', USER_PIN]),
    deleteToken: (label) => util(['--delete-token', '--token', label]),
    env: (label, extra = {}) => ({
      SOFTHSM2_CONF: conf,
      SYMBOLON_ROOT: 'pkcs11',
      SYMBOLON_PKCS11_MODULE: SOFTHSM_MODULE,
      SYMBOLON_PKCS11_TOKEN_LABEL: label,
      SYMBOLON_PKCS11_PIN: extra.pin ?? USER_PIN,
      ...(extra.keyLabel ? { SYMBOLON_PKCS11_KEY_LABEL: extra.keyLabel } : {}),
    }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
