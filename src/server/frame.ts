/**
 * Serves the wallet frame (web/frame, bundled into web/dist/frame by
 * scripts/build-web.js) at /frame/ on the wallet service's own origin, with
 * its configuration at /frame/config.json; and, in the embedded default, the
 * example DApp (web/dist/dapp) on another port — another origin — so that
 * `npm start` shows the whole picture; and the provider script DApp pages
 * include with a <script> tag at /sdk/ (src/server/provider-script.ts).
 *
 * The frame page's headers are part of its security (docs/frame.md):
 * `Content-Security-Policy: frame-ancestors <allowed DApp origins>` — only
 * those pages may embed it (the browser enforces it before any script runs; the
 * frame's own postMessage checks are the second gate) — and `script-src
 * 'self'`, no inline script, `connect-src` limited to the wallet's own
 * services and the signer (split wallets), no referrer, no caching of the page or its configuration.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { FrameSettings } from '../config.js';
import { walletUsersRoleArn } from '../iam/roles/wallet-users-role.js';
import { frameProviderDirectory, type ResolvedFrameProvider } from './frame-oidc-providers.js';
import { registerProviderScript } from './provider-script.js';

/** Where the frame is mounted. */
export const FRAME_PREFIX = '/frame';

const DEFAULT_DIST = join(dirname(fileURLToPath(import.meta.url)), '../../web/dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** Reads a built file once; undefined when the bundle has not been built. */
function staticFiles(dir: string, names: readonly string[]): (name: string) => Buffer | undefined {
  const cache = new Map<string, Buffer>();
  return (name) => {
    if (!names.includes(name)) return undefined;
    let body = cache.get(name);
    if (!body) {
      try {
        body = readFileSync(join(dir, name));
      } catch {
        return undefined;
      }
      cache.set(name, body);
    }
    return body;
  };
}

function notBuilt(reply: FastifyReply, what: string): FastifyReply {
  return reply
    .code(503)
    .header('cache-control', 'no-store')
    .send({ error: { code: 'not_built', message: `The ${what} is not built: run npm run build:web (npm start does it).` } });
}

function sendFile(reply: FastifyReply, name: string, body: Buffer, extraHeaders: Record<string, string> = {}): FastifyReply {
  const ext = name.slice(name.lastIndexOf('.'));
  return reply
    .header('content-type', TYPES[ext] ?? 'application/octet-stream')
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', ext === '.html' ? 'no-store' : 'no-cache')
    .headers(extraHeaders)
    .send(body);
}

function originOf(url: string): string {
  return new URL(url).origin;
}

export interface FrameOptions {
  settings: FrameSettings;
  /** The wallet service's public base URL (no trailing slash); called per request, after listen. */
  publicUrl: () => string;
  /** The custodian's region (STS/KMS signing scope). */
  region: string;
  /** The custodian's account: devices assume its symbolon-wallet-users role. */
  accountId: string;
  logger: Logger;
  /** Built pages (default web/dist). */
  distDir?: string;
}

export interface Frame {
  /** Mounts /frame/ on the app, and starts/stops the example DApp with it when configured. */
  register(app: FastifyInstance): void;
  /** The example DApp's origin once it listens (embedded default), else undefined. */
  readonly exampleDappOrigin: string | undefined;
  /**
   * Names the signer the frame calls for split wallets, from now on, in
   * config.json and in the page's connect-src. For `--role all` with
   * `--port 0`: the forked signer's port is known only once it listens.
   * @throws {RangeError} when `url` is not an http(s) URL without path, query or credentials.
   */
  useSignerUrl(url: string): void;
  /** The signer's URL the frame is given (undefined: none). */
  readonly signerUrl: string | undefined;
}

/** The wallet frame's routes and, when configured, the example DApp. */
export function createFrame(options: FrameOptions): Frame {
  const { settings } = options;
  const dist = options.distDir ?? DEFAULT_DIST;
  const frameFile = staticFiles(join(dist, 'frame'), [
    'index.html',
    'frame.js',
    'frame.css',
    'frame.js.map',
    'oidc-callback.html',
    'oidc-callback.js',
    'oidc-callback.js.map',
  ]);
  // External login providers (docs/frame.md), with their endpoints from discovery.
  const loginProviders = frameProviderDirectory({
    providers: settings.oidcProviders,
    onError: (p, e) => options.logger.warn({ provider: p.id }, `login provider ${p.id} is left out of the frame for now: ${e.message}`),
  });
  let dapp: ExampleDapp | undefined;
  // The configured signer, or the forked one once it listens (useSignerUrl): read per request.
  let signerUrl = settings.signerUrl;

  const frameConfig = (providers: readonly ResolvedFrameProvider[]) => {
    const base = options.publicUrl();
    return {
      allowedOrigins: settings.allowedOrigins,
      issuer: `${base}/oidc`,
      walletApi: base,
      kmsEndpoint: base,
      region: options.region,
      roleArn: walletUsersRoleArn(options.accountId),
      custodyMode: settings.custodyMode,
      // Split wallets sign through the signer, which the frame calls from the browser (it answers CORS for this origin).
      signerUrl: signerUrl ?? null,
      chains: { [String(settings.chain.chainId)]: settings.chain.name },
      // The configured chain the frame reads from (the home page's balance, token decimals in prompts).
      chain: { chainId: settings.chain.chainId, name: settings.chain.name, rpcUrl: settings.chain.rpcUrl },
      loginProviders: providers.map(({ id, name, issuer, clientId, scope, authorizationEndpoint, tokenEndpoint }) => ({
        id,
        name,
        issuer,
        clientId,
        scope,
        authorizationEndpoint,
        tokenEndpoint,
      })),
    };
  };

  const csp = (providers: readonly ResolvedFrameProvider[]) => {
    const self = originOf(options.publicUrl());
    const ancestors = settings.allowedOrigins.length > 0 ? settings.allowedOrigins.join(' ') : "'none'";
    return [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      `connect-src 'self' ${self} ${originOf(settings.chain.rpcUrl)}${signerUrl ? ` ${originOf(signerUrl)}` : ''}${[...new Set(providers.map((p) => ` ${originOf(p.tokenEndpoint)}`))].join('')}`,
      `frame-ancestors ${ancestors}`,
      "base-uri 'none'",
      "form-action 'none'",
    ].join('; ');
  };

  return {
    get exampleDappOrigin() {
      return dapp?.origin;
    },
    get signerUrl() {
      return signerUrl;
    },
    useSignerUrl(url) {
      let u: URL | undefined;
      try {
        u = new URL(url);
      } catch {
        u = undefined;
      }
      if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.pathname !== '/' || u.search || u.hash || u.username || u.password) {
        throw new RangeError('The signer URL must be an http(s) origin without path, query or credentials');
      }
      signerUrl = u.origin;
    },
    register(app) {
      // The provider script DApp pages include with one <script> tag (src/server/provider-script.ts).
      registerProviderScript(app, { publicUrl: options.publicUrl, ...(options.distDir ? { distDir: options.distDir } : {}) });
      app.get(FRAME_PREFIX, async (_req, reply) => reply.redirect(`${FRAME_PREFIX}/`, 301));
      app.get(`${FRAME_PREFIX}/config.json`, async (_req, reply) => {
        reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
        return frameConfig(await loginProviders());
      });
      app.get<{ Params: { file?: string } }>(`${FRAME_PREFIX}/:file`, async (req, reply) => {
        const name = req.params.file || 'index.html';
        const body = frameFile(name);
        if (!body) {
          if (!frameFile('index.html')) return notBuilt(reply, 'wallet frame');
          return reply.code(404).send({ error: { code: 'not_found', message: 'No such file of the wallet frame.' } });
        }
        const headers: Record<string, string> =
          name === 'index.html'
            ? {
                'content-security-policy': csp(await loginProviders()),
                'referrer-policy': 'no-referrer',
                'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
              }
            : name === 'oidc-callback.html'
              ? // The login popup's landing page: its URL holds the authorization code, so no referrer, no framing, nothing cached.
                {
                  'content-security-policy':
                    "default-src 'none'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                  'referrer-policy': 'no-referrer',
                }
              : { 'cross-origin-resource-policy': 'same-origin' };
        return sendFile(reply, name, body, headers);
      });
      app.get(`${FRAME_PREFIX}/`, async (_req, reply) => {
        const body = frameFile('index.html');
        if (!body) return notBuilt(reply, 'wallet frame');
        return sendFile(reply, 'index.html', body, {
          'content-security-policy': csp(await loginProviders()),
          'referrer-policy': 'no-referrer',
          'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
        });
      });

      if (settings.exampleDappPort !== undefined) {
        const port = settings.exampleDappPort;
        app.addHook('onListen', async () => {
          if (dapp) return;
          dapp = await startExampleDapp({
            host: settings.exampleDappHost,
            port,
            frameUrl: () => `${options.publicUrl()}${FRAME_PREFIX}/`,
            chains: [settings.chain],
            ...(options.distDir ? { distDir: options.distDir } : {}),
          });
          options.logger.info(
            { dapp: dapp.origin, frame: `${options.publicUrl()}${FRAME_PREFIX}/` },
            `Example DApp on ${dapp.origin} (another origin), using the wallet frame at ${options.publicUrl()}${FRAME_PREFIX}/`,
          );
          if (!settings.allowedOrigins.includes(dapp.origin)) {
            options.logger.warn({ dapp: dapp.origin }, 'the example DApp origin is not in SYMBOLON_FRAME_ALLOWED_ORIGINS: the frame will ignore it');
          }
        });
        app.addHook('onClose', async () => {
          await dapp?.close();
          dapp = undefined;
        });
      }
    },
  };
}

export interface ExampleDappOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The wallet frame's URL (called per request: it may be known only after the wallet service listens). */
  frameUrl: () => string;
  chains: readonly { chainId: number; name: string; rpcUrl: string }[];
  /** How long the page's provider waits for the frame (default the provider's, 15 s). */
  readyTimeoutMs?: number;
  distDir?: string;
}

export interface ExampleDapp {
  /** http://host:port */
  origin: string;
  close(): Promise<void>;
}

/**
 * Serves the example DApp (web/dist/dapp) and its config.json on its own port.
 * @throws {Error} when the port cannot be bound.
 */
export async function startExampleDapp(options: ExampleDappOptions): Promise<ExampleDapp> {
  const file = staticFiles(join(options.distDir ?? DEFAULT_DIST, 'dapp'), ['index.html', 'dapp.js', 'dapp.css', 'dapp.js.map']);
  const app = Fastify({ logger: false });
  const csp = () =>
    [
      "default-src 'self'",
      `frame-src ${originOf(options.frameUrl())}`,
      `connect-src 'self' ${options.chains.map((c) => originOf(c.rpcUrl)).join(' ')}`,
      "img-src 'self' data:",
      "object-src 'none'",
      "base-uri 'none'",
    ].join('; ');
  app.get('/config.json', async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return { frameUrl: options.frameUrl(), chains: options.chains, ...(options.readyTimeoutMs ? { readyTimeoutMs: options.readyTimeoutMs } : {}) };
  });
  app.get<{ Params: { file?: string } }>('/:file', async (req, reply) => {
    const name = req.params.file || 'index.html';
    const body = file(name);
    if (!body) return file('index.html') ? reply.code(404).send({ error: { code: 'not_found', message: 'No such file.' } }) : notBuilt(reply, 'example DApp');
    return sendFile(reply, name, body, name === 'index.html' ? { 'content-security-policy': csp() } : {});
  });
  app.get('/', async (_req, reply) => {
    const body = file('index.html');
    if (!body) return notBuilt(reply, 'example DApp');
    return sendFile(reply, 'index.html', body, { 'content-security-policy': csp() });
  });
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host.includes(':') ? `[${options.host}]` : options.host;
  return { origin: `http://${host}:${port}`, close: () => app.close() };
}
