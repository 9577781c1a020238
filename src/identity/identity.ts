/**
 * Assembles the identity domain for a server process: the trusted issuers
 * (from SYMBOLON_OIDC_ISSUERS / SYMBOLON_OIDC_ISSUERS_FILE), the built-in issuer
 * when enabled (mounted at /oidc, and then trusted like any configured issuer:
 * one more entry in the verifier's list, with its public JWKS passed inline),
 * and the token verifier the other components use.
 */
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../storage/database.js';
import type { RootOfTrust } from '../root/root-of-trust.js';
import type { IdentitySettings } from './settings.js';
import type { AuditSink } from '../audit/event.js';
import { loadTrustedIssuers } from './issuers-config.js';
import { createTokenVerifier, type TokenVerifier, type TokenVerifierOptions } from './token-verifier.js';
import type { TrustedIssuer } from './trusted-issuer.js';
import { BuiltinIssuer, type IssuerLimits } from './issuer/builtin-issuer.js';
import { createCodeDelivery } from './issuer/code-delivery.js';
import { DevMailbox } from './issuer/dev-mailbox.js';
import { issuerRoutes } from './issuer/routes.js';

/** Where the built-in issuer is mounted. */
export const ISSUER_PREFIX = '/oidc';

export interface IdentityOptions {
  settings: IdentitySettings;
  store: Store;
  root: RootOfTrust;
  logger: Logger;
  clock: () => number;
  /** The public base URL (no trailing slash); called lazily, after listen when the port was 0. */
  publicUrl: () => string;
  /** The DApp origins that may embed the wallet frame: the top origins a step-up in the frame may name. */
  embeddingOrigins?: (() => readonly string[]) | undefined;
  /** Where the built-in issuer's passkey events are audited (src/identity/issuer/passkey-audit.ts). */
  audit?: AuditSink | undefined;
  /** Test overrides of the built-in issuer's limits. */
  limits?: Partial<IssuerLimits>;
  /** Test overrides of the verifier (clock tolerance, cache, JWKS cooldown). */
  verifierOptions?: Omit<TokenVerifierOptions, 'issuers'>;
}

export interface Identity {
  /** The built-in issuer, when enabled. */
  readonly issuer: BuiltinIssuer | undefined;
  /** The built-in issuer's dev mailbox, when enabled. */
  readonly devMailbox: DevMailbox | undefined;
  /**
   * Every trusted issuer, the built-in one included (resolved on first call),
   * as the service `use` must see them: the built-in issuer's tokens are
   * accepted by the wallet API only as access tokens (`token_use` "access")
   * and by STS and the signer only as ID tokens (`token_use` "id"). So the
   * token a device sends the wallet service cannot be exchanged at STS or
   * used at the signer, and the token it sends STS and the signer is refused
   * by the wallet API. External issuers are accepted as configured by both.
   */
  trustedIssuers(use: TokenAudience): readonly TrustedIssuer[];
  /**
   * The verifier over trustedIssuers(use); built on first call, which must come
   * after the server listens when the public URL depends on the port.
   */
  verifier(use: TokenAudience): TokenVerifier;
  /** Mounts the built-in issuer's routes (when enabled) on the app. */
  register(app: FastifyInstance): void;
}

/** Which service verifies: the wallet API, or the custodian side (STS and the signer). */
export type TokenAudience = 'wallet' | 'custodian';

/** The `token_use` the built-in issuer's tokens must carry for each service. */
export const BUILTIN_TOKEN_USE: Readonly<Record<TokenAudience, 'access' | 'id'>> = Object.freeze({ wallet: 'access', custodian: 'id' });

/**
 * @throws {IssuerConfigError} when the trusted-issuer configuration is invalid.
 * @throws {SealedBoxError} when the issuer's stored secrets do not open under this root.
 */
export async function createIdentity(options: IdentityOptions): Promise<Identity> {
  const { settings, logger } = options;
  const external = loadTrustedIssuers({ json: settings.issuersJson, file: settings.issuersFile });
  let issuer: BuiltinIssuer | undefined;
  let devMailbox: DevMailbox | undefined;
  if (settings.builtinIssuer) {
    devMailbox = settings.devMailbox ? new DevMailbox() : undefined;
    issuer = await BuiltinIssuer.create({
      store: options.store,
      root: options.root,
      logger,
      clock: options.clock,
      issuerUrl: () => options.publicUrl() + ISSUER_PREFIX,
      audience: settings.audience,
      delivery: createCodeDelivery({
        smtpUrl: settings.smtpUrl,
        from: settings.smtpFrom ?? 'no-reply@symbolon.invalid',
        devMailbox,
        logger,
      }),
      ...(options.limits ? { limits: options.limits } : {}),
      audit: options.audit,
      embeddingOrigins: options.embeddingOrigins,
    });
  }

  const trusted = new Map<TokenAudience, readonly TrustedIssuer[]>();
  const verifiers = new Map<TokenAudience, TokenVerifier>();
  const trustedIssuers = (use: TokenAudience): readonly TrustedIssuer[] => {
    let list = trusted.get(use);
    if (!list) {
      const all: TrustedIssuer[] = [...external];
      // In-process the built-in issuer's JWKS is passed directly: the same path as an inline JWKS from configuration.
      if (issuer && !all.some((i) => i.issuer === issuer!.issuer)) {
        all.push({ issuer: issuer.issuer, audiences: [issuer.audience], jwks: issuer.jwks(), algorithms: ['EdDSA'], tokenUse: BUILTIN_TOKEN_USE[use] });
      }
      list = Object.freeze(all);
      trusted.set(use, list);
    }
    return list;
  };

  return {
    issuer,
    devMailbox,
    trustedIssuers,
    verifier(use) {
      let verifier = verifiers.get(use);
      if (!verifier) {
        verifier = createTokenVerifier({ ...options.verifierOptions, now: options.verifierOptions?.now ?? options.clock, issuers: trustedIssuers(use) });
        verifiers.set(use, verifier);
      }
      return verifier;
    },
    register(app) {
      if (!issuer) return;
      app.register(issuerRoutes(issuer, devMailbox), { prefix: ISSUER_PREFIX });
      app.addHook('onReady', async () => {
        logger.info(
          { delivery: issuer!.deliveryMode, devMailbox: !!devMailbox, trusted: external.length + 1 },
          issuer!.deliveryMode === 'smtp'
            ? 'built-in OIDC issuer enabled (codes sent by SMTP)'
            : 'built-in OIDC issuer enabled in development mode: login codes are written to this log' +
                (devMailbox ? ` and to GET ${ISSUER_PREFIX}/dev/mailbox` : ''),
        );
      });
    },
  };
}

/**
 * The public base URL: the configured one, else http://<listening address>:<port>.
 * @throws {Error} when neither is known yet (port 0 and not listening).
 */
export function resolvePublicUrl(configured: string | undefined, app: FastifyInstance): string {
  if (configured) return configured;
  const a = app.server.address();
  if (!a || typeof a === 'string') throw new Error('The public URL is not known yet: set SYMBOLON_PUBLIC_URL or start listening first');
  const wildcard = a.address === '0.0.0.0' || a.address === '::';
  const host = wildcard ? 'localhost' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `http://${host}:${a.port}`;
}
