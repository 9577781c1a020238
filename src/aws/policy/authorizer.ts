/**
 * The custodian's Authorizer: builds the policy engine's request from the
 * authenticated caller, the key and the operation's condition keys, fetches
 * the caller's identity policies, and lets the pure engine (evaluate.ts)
 * decide; where no policy allows a KMS request and none denies it, the
 * request's grant check (src/kms/grants.ts) may still allow it. A denial is
 * AWS's AccessDeniedException with AWS's message, marked (AwsError.mfaRequired)
 * when a passkey step-up would turn it into an allow.
 * Parsed policies are cached by text, so the Sign hot path parses nothing.
 */
import { accessDenied, internal } from '../errors.js';
import { steppedUpLogins, type Caller, type RequestInfo } from '../context.js';
import { parsePolicyDocument, PolicyDocumentError, type PolicyDocument, type PolicyKind } from './document.js';
import { accessDeniedMessage, decide, type Decision } from './evaluate.js';
import { globalConditionKeys, principalFromArn, type EvalRequest } from './request.js';

/** Where a caller's identity policies come from (src/iam/identity-policies.ts: users' own, or a role session's role's). */
export interface IdentityPolicySource {
  /** The identity policies (JSON texts) attached to a caller; empty for principals that have none. */
  forCaller(caller: Caller, now: number): Promise<readonly string[]>;
}

const PARSE_CACHE_MAX = 2_000;

/**
 * The key a request acts on, as the policy engine sees it: its ARN's parts,
 * its key policy and the `kms:Key*` condition keys. The KMS key record
 * (src/kms/model.ts) is one; this foundation names only what it reads.
 */
export interface PolicyKey {
  keyId: string;
  accountId: string;
  region: string;
  keySpec: string;
  keyUsage: string;
  origin: string;
  policy: string;
}

function arnOf(key: PolicyKey): string {
  return `arn:aws:kms:${key.region}:${key.accountId}:key/${key.keyId}`;
}

export interface AuthorizationRequest {
  caller: Caller;
  info: RequestInfo;
  action: string;
  key: PolicyKey | undefined;
  conditions: Record<string, string | string[]>;
  /** Asked when no policy allows the request and none denies it explicitly (KMS grants); true allows. */
  grant?: () => Promise<boolean>;
}

/** The KMS's Authorizer (src/kms/context.ts), and IAM's and STS's policy decisions. */
export class PolicyAuthorizer {
  readonly #identityPolicies: IdentityPolicySource;
  // Keyed by the text itself (per kind), so a cached key record's policy string hashes once.
  readonly #parsed = { key: new Map<string, PolicyDocument>(), identity: new Map<string, PolicyDocument>() };

  constructor(options: { identityPolicies: IdentityPolicySource }) {
    this.#identityPolicies = options.identityPolicies;
  }

  /**
   * Parses a stored policy (cached by kind and text).
   * @throws {AwsError} KMSInternalException when a stored policy no longer parses (fail closed).
   */
  parse(text: string, kind: PolicyKind): PolicyDocument {
    const cache = this.#parsed[kind];
    let doc = cache.get(text);
    if (!doc) {
      try {
        doc = parsePolicyDocument(text, kind);
      } catch (e) {
        if (e instanceof PolicyDocumentError) throw internal(`A stored ${kind === 'key' ? 'key' : 'identity'} policy could not be read; access is refused.`);
        throw e;
      }
      if (cache.size >= PARSE_CACHE_MAX) cache.clear();
      cache.set(text, doc);
    }
    return doc;
  }

  /** Builds the engine's view of a request. */
  request(r: AuthorizationRequest, resource: string): EvalRequest {
    const { caller, info, key } = r;
    const principal = principalFromArn(caller.arn, caller.accountId);
    const context = globalConditionKeys({
      principal,
      userName: caller.userName,
      tags: caller.tags,
      sourceIp: info.sourceIp,
      now: info.now,
      auth: caller.auth,
    });
    context.set('kms:CallerAccount', caller.accountId);
    if (key) {
      context.set('kms:KeySpec', key.keySpec);
      context.set('kms:KeyUsage', key.keyUsage);
      context.set('kms:KeyOrigin', key.origin);
    }
    for (const [k, v] of Object.entries(r.conditions)) context.set(k, v);
    return { principal, action: r.action, resource, context };
  }

  /**
   * Decides a request without throwing. `resource` defaults to the key's ARN,
   * or `*` when there is no key.
   * @throws {AwsError} KMSInternalException when a stored policy does not parse.
   */
  async evaluate(r: AuthorizationRequest, resource?: string): Promise<{ decision: Decision; request: EvalRequest }> {
    const request = this.request(r, resource ?? (r.key ? arnOf(r.key) : '*'));
    const isRoot = request.principal.kind === 'root';
    const texts = isRoot ? [] : await this.#identityPolicies.forCaller(r.caller, r.info.now);
    const identityPolicies = texts.map((t) => this.parse(t, 'identity'));
    const resourcePolicy = r.key ? this.parse(r.key.policy, 'key') : undefined;
    return { decision: decide({ request, resourcePolicy, identityPolicies }), request };
  }

  /**
   * @throws {AwsError} AccessDeniedException with AWS's message when not allowed.
   */
  async authorize(r: AuthorizationRequest): Promise<void> {
    const { decision, request } = await this.evaluate(r);
    if (decision.allowed) return;
    // A grant adds an allow; an explicit Deny in the key policy or an identity policy still wins.
    const explicit = decision.reason === 'explicit-deny-resource' || decision.reason === 'explicit-deny-identity';
    if (!explicit && r.grant && (await r.grant())) return;
    const denied = accessDenied(accessDeniedMessage(request, decision.reason));
    denied.mfaRequired = await this.#stepUpWouldAllow(r);
    throw denied;
  }

  /**
   * Whether a refused web-identity session would be allowed after a passkey
   * step-up now (docs/access-control.md "Step-up MFA"): the same request,
   * decided again with the login a step-up gives. Only the caller's own
   * refusal says so, and only to that caller (who is authenticated); it names
   * no policy. Callers that are not web-identity sessions never can step up.
   */
  async #stepUpWouldAllow(r: AuthorizationRequest): Promise<boolean> {
    const auth = r.caller.auth;
    if (!auth) return false;
    for (const stepped of steppedUpLogins(auth, r.info.now)) {
      const { decision } = await this.evaluate({ ...r, caller: { ...r.caller, auth: stepped } });
      if (decision.allowed) return true;
    }
    return false;
  }
}
