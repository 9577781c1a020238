/**
 * Linked logins at the custodian (docs/identity.md, "Linked logins";
 * docs/sts.md, "Linked logins"): Symbolon actions on STS's query protocol,
 * anonymous as AssumeRoleWithWebIdentity is (the ID tokens are the
 * credentials), answered in STS's XML and error shapes.
 *
 * - LinkWebIdentity (WebIdentityToken, LinkedWebIdentityToken): adds the
 *   second token's login to the first token's user. Both logins must be at
 *   most LINK_FRESHNESS_SECONDS old (`auth_time`, else `iat`), so a token
 *   lifted from a wallet service's traffic or a stale tab cannot link
 *   anything. A login that already belongs to another user (it was used
 *   before) is moved only when that user has no other login and none of its
 *   master keys ever protected anything; those keys are then scheduled for
 *   deletion. Otherwise LoginInUse (merge-login.ts): linking never merges
 *   two users' data or moves a wallet.
 * - UnlinkWebIdentity (WebIdentityToken, Issuer, Subject): removes one login
 *   of the token's user, with a fresh login of that user; the last one is
 *   refused (DeleteConflict), so a user always keeps a way in.
 * - ListWebIdentityLinks (WebIdentityToken): the token's user id and logins.
 * - GetWebIdentityUser (Issuer, Subject, or UserId; signed: the account
 *   root, or a principal whose identity policy allows sts:GetWebIdentityUser,
 *   as the wallet service's does): the same for a named login, with the
 *   subject its user's sessions are tagged `osub` with; or a user's logins.
 *   The administrator needs it to migrate a template-2 master key, the
 *   wallet service to key its users by user id.
 *
 * Only these actions and AssumeRoleWithWebIdentity's first sight write
 * sts_identity_links; the wallet service has no action or table that can.
 */
import { el, members } from '../iam/xml.js';
import {
  deleteIdentityLink,
  findIdentityLink,
  identityLinksOfUser,
  inUserLinksTransaction,
  insertIdentityLinkIfAbsent,
  type IdentityLinkRow,
} from '../storage/sts-identity-links.repository.js';
import type { VerifiedToken } from '../identity/token-verifier.js';
import type { AuditEvent } from '../audit/event.js';
import { AwsError } from '../aws/errors.js';
import { invalidIdentityToken, validationError } from './errors.js';
import { verify } from './assume-role-with-web-identity.js';
import { isFreshLogin, LINK_FRESHNESS_SECONDS, linkOf, UID_PATTERN } from './identity-links.js';
import { mergeUsedLogin } from './merge-login.js';
import type { StsAction, StsContext } from './context.js';
import type { QueryParams } from '../iam/params.js';

const TOKEN_RULE = { required: true, min: 4, max: 20000, secretish: true } as const;

function identitiesXml(uid: string, links: readonly IdentityLinkRow[]): string {
  return (
    el('UserId', uid) +
    members(
      'Identities',
      links.map((l) => el('Issuer', l.issuer) + el('Subject', l.subject)),
    )
  );
}

/** An STS audit event; `caller` for signed actions (the token-authenticated ones have no principal). */
function event(
  ctx: StsContext,
  operation: string,
  tags: Record<string, string>,
  outcome: AuditEvent['outcome'],
  errorCode: string | null,
  caller?: { arn: string; accessKeyId: string },
): AuditEvent {
  return {
    time: ctx.info.now,
    requestId: ctx.info.requestId,
    service: 'sts',
    operation,
    principalArn: caller?.arn ?? null,
    principalTags: tags,
    accessKeyId: caller?.accessKeyId ?? null,
    sourceIp: ctx.info.sourceIp,
    userAgent: ctx.info.userAgent,
    keyArn: null,
    encryptionContext: null,
    signingAlgorithm: null,
    outcome,
    errorCode,
  };
}

/** Verifies a token and requires a recent login; `which` names the parameter in the refusal. */
async function freshLogin(ctx: StsContext, token: string, which: string): Promise<VerifiedToken> {
  const verified = await verify(ctx, token);
  if (!isFreshLogin(verified, ctx.info.now)) {
    throw invalidIdentityToken(
      `${which} is from a login more than ${LINK_FRESHNESS_SECONDS} seconds old (auth_time, or iat without it); log in again with that method, then retry.`,
    );
  }
  return verified;
}

/** Runs `fn`, recording a refusal it throws as a denied audit event. */
async function audited(ctx: StsContext, operation: string, tags: Record<string, string>, fn: () => Promise<string>): Promise<string> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof AwsError && e.status < 500) ctx.audit.record(event(ctx, operation, tags, 'denied', e.type));
    throw e;
  }
}

export const linkWebIdentity: StsAction = {
  name: 'LinkWebIdentity',
  anonymous: true,
  async handle(p: QueryParams, ctx) {
    const token = p.string('WebIdentityToken', TOKEN_RULE);
    const linkedToken = p.string('LinkedWebIdentityToken', TOKEN_RULE);
    const owner = await freshLogin(ctx, token, 'WebIdentityToken');
    const added = await freshLogin(ctx, linkedToken, 'LinkedWebIdentityToken');
    const { now } = ctx.info;
    const ownerLink = await linkOf(ctx.store, { issuer: owner.issuer, subject: owner.sub }, now);
    const uid = ownerLink.uid;
    const tags = { uid, iss: added.issuer, sub: added.sub };
    return audited(ctx, 'LinkWebIdentity', tags, async () => {
      if (owner.issuer === added.issuer && owner.sub === added.sub) throw validationError('The two tokens are the same login; link a different login method.');
      const existing = await findIdentityLink(ctx.store.db, added.issuer, added.sub);
      if (existing && existing.uid !== uid) {
        // A login used before: moved only when its user holds nothing (merge-login.ts).
        const retired = await mergeUsedLogin(ctx, { issuer: added.issuer, subject: added.sub }, existing.uid, {
          uid,
          originSubject: ownerLink.originSubject,
        });
        await ctx.audit.recordDurable(event(ctx, 'LinkWebIdentity', { ...tags, fromUid: existing.uid, retiredKeys: retired.join(',') }, 'allowed', null));
      }
      if (!existing) {
        const { link } = await insertIdentityLinkIfAbsent(ctx.store.db, {
          issuer: added.issuer,
          subject: added.sub,
          uid,
          originSubject: ownerLink.originSubject,
          createdAt: now,
        });
        // Another request gave this login a user of its own between the read and the insert.
        if (link.uid !== uid) throw new AwsError('EntityAlreadyExists', 'The login of LinkedWebIdentityToken already belongs to another user.', 409);
        await ctx.audit.recordDurable(event(ctx, 'LinkWebIdentity', tags, 'allowed', null));
      }
      return identitiesXml(uid, await identityLinksOfUser(ctx.store.db, uid));
    });
  },
};

export const unlinkWebIdentity: StsAction = {
  name: 'UnlinkWebIdentity',
  anonymous: true,
  async handle(p: QueryParams, ctx) {
    const token = p.string('WebIdentityToken', TOKEN_RULE);
    const issuer = p.string('Issuer', { required: true, min: 1, max: 2048 });
    const subject = p.string('Subject', { required: true, min: 1, max: 2048 });
    const owner = await freshLogin(ctx, token, 'WebIdentityToken');
    const { uid } = await linkOf(ctx.store, { issuer: owner.issuer, subject: owner.sub }, ctx.info.now);
    const tags = { uid, iss: issuer, sub: subject };
    return audited(ctx, 'UnlinkWebIdentity', tags, async () => {
      const remaining = await inUserLinksTransaction(ctx.store, uid, async (db) => {
        const links = await identityLinksOfUser(db, uid);
        if (!links.some((l) => l.issuer === issuer && l.subject === subject)) {
          throw new AwsError('NoSuchEntity', "That login is not one of this user's login methods.", 404);
        }
        if (links.length === 1) throw new AwsError('DeleteConflict', "That is the user's last login method; link another before removing it.", 409);
        await deleteIdentityLink(db, uid, issuer, subject);
        return links.filter((l) => l.issuer !== issuer || l.subject !== subject);
      });
      await ctx.audit.recordDurable(event(ctx, 'UnlinkWebIdentity', tags, 'allowed', null));
      return identitiesXml(uid, remaining);
    });
  },
};

export const listWebIdentityLinks: StsAction = {
  name: 'ListWebIdentityLinks',
  anonymous: true,
  async handle(p: QueryParams, ctx) {
    const token = p.string('WebIdentityToken', TOKEN_RULE);
    const owner = await verify(ctx, token);
    const { uid } = await linkOf(ctx.store, { issuer: owner.issuer, subject: owner.sub }, ctx.info.now);
    return identitiesXml(uid, await identityLinksOfUser(ctx.store.db, uid));
  },
};

/**
 * GetWebIdentityUser (SigV4, the account root or a principal its identity policies allow), for the
 * administrator who migrates a template-2 master key (docs/sts.md, "Existing users") and the wallet
 * service that keys its users by user id. Reading the mapping gives no access: only STS tags sessions
 * with a uid, from a verified token.
 *
 * - Issuer, Subject: the user id the custodian links that login to (given then if the login was never
 *   seen, as its first session would), its logins, and `OriginSubject`, the subject STS tags the user's
 *   sessions `osub` with (the wallet service names it as a new master key's pre-linking sub).
 * - UserId: that user's logins, without creating anything; none when its last login was linked into
 *   another user (a merge, merge-login.ts): nobody can reach that user any more.
 */
export const getWebIdentityUser: StsAction = {
  name: 'GetWebIdentityUser',
  anonymous: false,
  async handle(p: QueryParams, ctx) {
    const caller = ctx.caller;
    const denied = () => new AwsError('AccessDenied', `User: ${caller?.arn ?? 'anonymous'} is not authorized to perform: sts:GetWebIdentityUser`, 403);
    if (!caller) throw denied();
    // Audited as a read (not awaited), allowed or refused, with the caller and what was asked (bounded:
    // the parameters' own limits are checked below, so a refusal records at most a prefix).
    const asked = (): Record<string, string> => {
      const userId = p.string('UserId');
      if (userId !== undefined) return { userId: userId.slice(0, 64) };
      return { iss: (p.string('Issuer') ?? '').slice(0, 2048), sub: (p.string('Subject') ?? '').slice(0, 2048) };
    };
    const record = (outcome: AuditEvent['outcome'], errorCode: string | null, answered: Record<string, string> = {}): void =>
      ctx.audit.record(event(ctx, 'GetWebIdentityUser', { ...asked(), ...answered }, outcome, errorCode, caller));
    try {
      if (caller.arn !== `arn:aws:iam::${ctx.accountId}:root`) {
        // The wallet service's own user (src/wallet/wallet-principal.ts) is allowed by its identity policy.
        if (!ctx.authorize) throw denied();
        await ctx.authorize('sts:GetWebIdentityUser', `arn:aws:iam::${ctx.accountId}:root`);
      }
      const userId = p.string('UserId', { min: 1, max: 64 });
      if (userId !== undefined) {
        if (p.string('Issuer') !== undefined || p.string('Subject') !== undefined) {
          throw validationError('Give either UserId, or Issuer and Subject, not both.');
        }
        if (!UID_PATTERN.test(userId)) throw validationError('UserId must be u- and 32 lower-case hexadecimal digits.');
        const links = await identityLinksOfUser(ctx.store.db, userId);
        record('allowed', null, { logins: String(links.length) });
        return identitiesXml(userId, links) + el('OriginSubject', links[0]?.originSubject);
      }
      const issuer = p.string('Issuer', { required: true, min: 1, max: 2048 });
      const subject = p.string('Subject', { required: true, min: 1, max: 2048 });
      const link = await linkOf(ctx.store, { issuer, subject }, ctx.info.now);
      record('allowed', null, { uid: link.uid });
      return identitiesXml(link.uid, await identityLinksOfUser(ctx.store.db, link.uid)) + el('OriginSubject', link.originSubject);
    } catch (e) {
      if (e instanceof AwsError && e.status < 500) record(e.type === 'AccessDenied' ? 'denied' : 'error', e.type);
      throw e;
    }
  },
};
