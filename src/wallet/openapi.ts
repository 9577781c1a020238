/**
 * An OpenAPI 3.1 document generated from the schemas of the routes as they are
 * registered (fastify's onRoute hook), so the description cannot drift from
 * what the server validates and serializes. OpenAPI 3.1 schemas are JSON
 * Schema 2020-12, so route schemas are emitted as they are.
 */
import type { RouteOptions } from 'fastify';

/** What a route declares, as fastify hands it to onRoute. */
export interface RecordedRoute {
  method: string;
  url: string;
  schema: RouteSchema;
}

/** The route schema fields used here; `summary`, `description` and `security` are OpenAPI's own. */
export interface RouteSchema {
  summary?: string;
  description?: string;
  /** Names of security schemes (e.g. `bearer`); omitted for public routes. */
  security?: readonly string[];
  body?: object;
  params?: { properties?: Record<string, object> };
  querystring?: { properties?: Record<string, object>; required?: readonly string[] };
  response?: Record<string, { readonly description?: string; readonly [keyword: string]: unknown }>;
}

/** Collects routes as they are registered. */
export class RouteRecorder {
  readonly routes: RecordedRoute[] = [];

  /** For `app.addHook('onRoute', recorder.onRoute)`. */
  readonly onRoute = (route: RouteOptions): void => {
    if (!route.schema) return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD') continue;
      this.routes.push({ method: method.toLowerCase(), url: route.url, schema: route.schema as RouteSchema });
    }
  };
}

const STATUS_TEXT: Readonly<Record<string, string>> = {
  '200': 'OK',
  '201': 'Created',
  '4XX': 'Client error: { "error": { "code", "message" } }',
  '5XX': 'Server error: { "error": { "code", "message" } }',
};

/** fastify's `4xx` is OpenAPI's `4XX`; `:id` is `{id}`. */
function openApiStatus(code: string): string {
  return /^[1-5]xx$/i.test(code) ? code.toUpperCase() : code;
}

function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * Builds the document.
 * @throws {TypeError} never for routes recorded by RouteRecorder.
 */
export function openApiDocument(options: { title: string; version: string; description: string; routes: readonly RecordedRoute[] }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { method, url, schema } of options.routes) {
    const parameters = [
      ...Object.entries(schema.params?.properties ?? {}).map(([name, s]) => ({ name, in: 'path', required: true, schema: s })),
      ...Object.entries(schema.querystring?.properties ?? {}).map(([name, s]) => ({
        name,
        in: 'query',
        required: schema.querystring?.required?.includes(name) ?? false,
        schema: s,
      })),
    ];
    const responses: Record<string, unknown> = {};
    for (const [code, s] of Object.entries(schema.response ?? {})) {
      const status = openApiStatus(code);
      responses[status] = { description: s.description ?? STATUS_TEXT[status] ?? status, content: { 'application/json': { schema: s } } };
    }
    (paths[openApiPath(url)] ??= {})[method] = {
      ...(schema.summary ? { summary: schema.summary } : {}),
      ...(schema.description ? { description: schema.description } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(schema.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema.body } } } } : {}),
      responses,
      security: (schema.security ?? []).map((name) => ({ [name]: [] })),
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: options.title, version: options.version, description: options.description },
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'An access token (JWT) from a trusted OIDC issuer.',
        },
      },
    },
  };
}
