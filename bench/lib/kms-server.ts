/**
 * A benchmark-only build of the custodian's KMS endpoint, for finding where a
 * request's CPU time goes: the custodian is created as `symbolon serve --role
 * kms` creates it, then its KMS endpoint is mounted on a fresh fastify app
 * with at most one component switched off (BENCH_DISABLE):
 *
 *   sigv4    the caller is the administrator, no signature is checked
 *   policy   every request is allowed (no key policy, no identity policy)
 *   audit    events go nowhere (the null sink)
 *   metrics  no per-request observation
 *
 * The load generator reads this process's CPU time from /proc before and
 * after a run; the difference from the full build (BENCH_DISABLE unset) is
 * that component's CPU per request. This file is never imported by src/: the
 * production server has no switch that turns any of these off.
 *
 * Usage: node --import tsx bench/lib/kms-server.ts --port P --data DIR
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { configFromEnv } from '../../src/config.js';
import { createCustodian } from '../../src/server/custodian.js';
import { buildApp } from '../../src/server/app.js';
import { operations } from '../../src/kms/operations/registry.js';
import { approvalOperations } from '../../src/kms/policy/approvals.js';
import { nullAuditSink } from '../../src/audit/event.js';
import type { Authenticator } from '../../src/aws/authenticator.js';
import type { Caller } from '../../src/aws/context.js';
import { COMPONENTS, type Component } from './kms-components.js';

const { values } = parseArgs({ options: { port: { type: 'string' }, data: { type: 'string' } }, strict: false });
const off = (process.env.BENCH_DISABLE ?? '') as Component | '';
if (off !== '' && !COMPONENTS.includes(off)) throw new RangeError(`BENCH_DISABLE must be one of ${COMPONENTS.join(', ')}`);
const port = Number(values.port);
const config = configFromEnv(process.env, { port: String(port), data: String(values.data), role: 'kms' });
config.allowedHosts = [`127.0.0.1:${port}`];
const logger = pino({ level: config.logLevel });
const custodian = await createCustodian({
  config,
  logger,
  ...(off === 'audit' ? { audit: nullAuditSink } : {}),
  ...(off === 'policy' ? { authorizer: { authorize: async () => {} } } : {}),
});

let authenticator: Authenticator = custodian.authenticator;
if (off === 'sigv4') {
  // The first request is authenticated for real; its caller is then reused without checking anything.
  let caller: Caller | undefined;
  const real = custodian.authenticator;
  authenticator = {
    async authenticate(...args: Parameters<Authenticator['authenticate']>): Promise<Caller> {
      caller ??= await real.authenticate(...args);
      return caller;
    },
  } as unknown as Authenticator;
}
const app = buildApp({
  logger,
  deps: custodian.deps,
  authenticator,
  operations,
  approvalOperations,
  audit: custodian.audit,
  ...(off === 'metrics' ? {} : { observe: custodian.metrics.observe }),
});
// The custodian's own app listens too (on a port nobody uses), as in production: its Host check caches
// the names of a listening server, and this app's port is allowed through config.allowedHosts.
await custodian.app.listen({ host: '127.0.0.1', port: 0 });
await app.listen({ host: '127.0.0.1', port });
process.on('SIGTERM', () => {
  void (async () => {
    await app.close();
    await custodian.close();
    process.exit(0);
  })();
});
