/**
 * The provider script (web/provider/main.ts, bundled into web/dist/sdk by
 * scripts/build-web.js) on the wallet service's origin, for DApp pages to
 * include with one `<script src>` tag (docs/sdk.md):
 *
 * - GET /sdk/provider-<version>.js — this wallet's build for SDK version
 *   <version> (packages/sdk/package.json): cached for a year, immutable. Pages
 *   pin it with its Subresource Integrity hash.
 * - GET /sdk/provider.js — the same file, cached for five minutes: always
 *   this wallet's current build (no SRI pinning possible across upgrades).
 * - GET /sdk/provider.json — the manifest: version, versioned URL, SRI hash
 *   (`sha384-…`) and the script tag to paste; never cached.
 * - GET /sdk/provider.js.map — its source map.
 *
 * The scripts are loaded cross-origin with `crossorigin="anonymous"` (SRI
 * needs CORS), so they answer `Access-Control-Allow-Origin: *` and
 * `Cross-Origin-Resource-Policy: cross-origin`: they are public code, no
 * credentials are involved.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const PROVIDER_PREFIX = '/sdk';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

export interface ProviderManifest {
  version: string;
  /** The versioned script's URL on this wallet. */
  url: string;
  /** Subresource Integrity (W3C SRI) of that script: sha384, base64. */
  integrity: string;
  /** A tag to paste into a page (the data- attributes are the page's to set: docs/sdk.md). */
  scriptTag: string;
}

interface Built {
  body: Buffer;
  map: Buffer | undefined;
  integrity: string;
}

/** The SDK's version: the versioned script's name. */
export function sdkVersion(root = ROOT): string {
  return (JSON.parse(readFileSync(join(root, 'packages/sdk/package.json'), 'utf8')) as { version: string }).version;
}

/** SRI's sha384 form of `body`. */
export function integrityOf(body: Uint8Array): string {
  return `sha384-${createHash('sha384').update(body).digest('base64')}`;
}

/** Registers the /sdk/ routes; `publicUrl` is the wallet's base URL (no trailing slash), read per request. */
export function registerProviderScript(app: FastifyInstance, options: { publicUrl: () => string; distDir?: string }): void {
  const dir = join(options.distDir ?? join(ROOT, 'web/dist'), 'sdk');
  const version = sdkVersion();
  const versioned = `provider-${version}.js`;
  let built: Built | undefined;
  // Read once (like the frame's files): a rebuilt web/dist is served after a restart.
  const load = (): Built | undefined => {
    if (built) return built;
    let body: Buffer;
    try {
      body = readFileSync(join(dir, 'provider.js'));
    } catch {
      return undefined;
    }
    let map: Buffer | undefined;
    try {
      map = readFileSync(join(dir, 'provider.js.map'));
    } catch {
      map = undefined;
    }
    built = { body, map, integrity: integrityOf(body) };
    return built;
  };
  const notBuilt = (reply: FastifyReply) =>
    reply
      .code(503)
      .header('cache-control', 'no-store')
      .send({ error: { code: 'not_built', message: 'The provider script is not built: run npm run build:web (npm start does it).' } });
  const publicHeaders = (reply: FastifyReply, type: string, cache: string) =>
    reply
      .header('content-type', type)
      .header('cache-control', cache)
      .header('access-control-allow-origin', '*')
      .header('cross-origin-resource-policy', 'cross-origin')
      .header('x-content-type-options', 'nosniff');

  app.get(`${PROVIDER_PREFIX}/provider.json`, async (_req, reply) => {
    const b = load();
    if (!b) return notBuilt(reply);
    const url = `${options.publicUrl()}${PROVIDER_PREFIX}/${versioned}`;
    const manifest: ProviderManifest = {
      version,
      url,
      integrity: b.integrity,
      scriptTag: `<script src="${url}" integrity="${b.integrity}" crossorigin="anonymous" data-chain-id="1"></script>`,
    };
    return publicHeaders(reply, 'application/json; charset=utf-8', 'no-store').send(manifest);
  });
  app.get<{ Params: { file: string } }>(`${PROVIDER_PREFIX}/:file`, async (req, reply) => {
    const { file } = req.params;
    const b = load();
    if (file !== 'provider.js' && file !== versioned && file !== 'provider.js.map') {
      const other = /^provider-(.+)\.js$/.exec(file);
      return reply
        .code(404)
        .header('cache-control', 'no-store')
        .send({
          error: other
            ? { code: 'version_not_served', message: `This wallet serves the provider script of version ${version} only (${PROVIDER_PREFIX}/${versioned}).` }
            : { code: 'not_found', message: `No such file under ${PROVIDER_PREFIX}/.` },
        });
    }
    if (!b) return notBuilt(reply);
    if (file === 'provider.js.map') {
      if (!b.map)
        return reply
          .code(404)
          .header('cache-control', 'no-store')
          .send({ error: { code: 'not_found', message: 'No source map was built.' } });
      return publicHeaders(reply, 'application/json; charset=utf-8', 'public, max-age=300').send(b.map);
    }
    const cache = file === versioned ? 'public, max-age=31536000, immutable' : 'public, max-age=300';
    return publicHeaders(reply, 'text/javascript; charset=utf-8', cache).send(b.body);
  });
}
