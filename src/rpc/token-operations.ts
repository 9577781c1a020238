/**
 * Managing the JSON-RPC signer's API tokens over the KMS endpoint (SigV4,
 * `X-Amz-Target: SymbolonRpc.<Operation>`, used by `symbolon admin
 * create-rpc-token | list-rpc-tokens | delete-rpc-token`):
 *
 *   CreateRpcToken { UserName }  → { TokenId, Token, UserName, UserArn, CreationDate }   (the token only here, once)
 *   ListRpcTokens  { UserName? } → { Tokens: [{ TokenId, UserName, UserArn, CreatedBy, CreationDate, RevocationDate? }] }
 *   RevokeRpcToken { TokenId }   → { TokenId, RevocationDate }
 *
 * Each is authorized by the caller's identity policies (the account root may
 * do all) as `symbolon:CreateRpcToken`, `symbolon:ListRpcTokens` and
 * `symbolon:RevokeRpcToken` on `*`; the endpoint audits each request.
 * A token for another user is a credential for that user: under an account
 * quorum rule (docs/access-control.md) CreateRpcToken is a change the
 * approvers must approve first, as CreateAccessKey for another user is.
 */
import { notFound, validation } from '../aws/errors.js';
import { findUser } from '../storage/iam.repository.js';
import { findRpcToken, insertRpcToken, listRpcTokens, revokeRpcToken } from '../storage/rpc-tokens.repository.js';
import { operation, type KmsOperation } from '../kms/operation.js';
import type { OperationContext } from '../kms/context.js';
import { timestampOut } from '../kms/input.js';
import { StaleChange, type ChangeApplier } from '../kms/policy/account-quorum.js';
import { newRpcToken, type RpcTokenAuthenticator } from './tokens.js';

const USER_NAME = /^[\w+=,.@-]{1,64}$/;
const TOKEN_ID = /^rpct-[0-9a-f]{16}$/;

async function allowed(ctx: OperationContext, action: string): Promise<void> {
  await ctx.deps.authorizer.authorize({ caller: ctx.caller, info: ctx.info, action, key: undefined, conditions: {} });
}

/** The SymbolonRpc operations, by name; `auth` forgets a revoked token at once. */
export function rpcTokenOperations(auth: RpcTokenAuthenticator): ReadonlyMap<string, KmsOperation> {
  const create = operation('CreateRpcToken', async (input, ctx) => {
    const name = input.string('UserName', { required: true, min: 1, max: 64 });
    if (!USER_NAME.test(name)) throw validation('UserName must be an IAM user name.');
    await allowed(ctx, 'symbolon:CreateRpcToken');
    const user = await findUser(ctx.deps.store.db, name);
    if (!user) throw notFound(`The user with name ${name} cannot be found.`);
    if (user.arn !== ctx.caller.arn) {
      // A token for another user lets the caller act as that user, like CreateAccessKey for another user: under an
      // account quorum rule it needs the approvers, and once approved the proposer collects it by repeating the request.
      await ctx.deps.quorum.redeemOrGuard(ctx, {
        kind: 'CreateRpcToken',
        target: user.userName,
        payload: { UserName: user.userName },
        base: '',
        protocol: 'kms',
      });
    }
    const { token, tokenId, sha256 } = newRpcToken();
    await insertRpcToken(ctx.deps.store.db, {
      tokenId,
      tokenSha256: sha256,
      userName: user.userName,
      principalArn: user.arn,
      createdBy: ctx.caller.arn,
      createdAt: ctx.info.now,
      revokedAt: null,
    });
    return { TokenId: tokenId, Token: token, UserName: user.userName, UserArn: user.arn, CreationDate: timestampOut(ctx.info.now) };
  });

  const list = operation('ListRpcTokens', async (input, ctx) => {
    const name = input.string('UserName', { min: 1, max: 64 });
    await allowed(ctx, 'symbolon:ListRpcTokens');
    let userName: string | undefined;
    if (name !== undefined) {
      const user = await findUser(ctx.deps.store.db, name);
      if (!user) throw notFound(`The user with name ${name} cannot be found.`);
      userName = user.userName;
    }
    const rows = await listRpcTokens(ctx.deps.store.db, userName);
    return {
      Tokens: rows.map((t) => ({
        TokenId: t.tokenId,
        UserName: t.userName,
        UserArn: t.principalArn,
        CreatedBy: t.createdBy,
        CreationDate: timestampOut(t.createdAt),
        ...(t.revokedAt !== null ? { RevocationDate: timestampOut(t.revokedAt) } : {}),
      })),
    };
  });

  const revoke = operation('RevokeRpcToken', async (input, ctx) => {
    const tokenId = input.string('TokenId', { required: true, min: 1, max: 64 });
    if (!TOKEN_ID.test(tokenId)) throw validation('TokenId must be an rpct-… token id (symbolon admin list-rpc-tokens).');
    await allowed(ctx, 'symbolon:RevokeRpcToken');
    if (!(await revokeRpcToken(ctx.deps.store.db, tokenId, ctx.info.now))) {
      const existing = await findRpcToken(ctx.deps.store.db, tokenId);
      throw notFound(existing ? `The token ${tokenId} is already revoked.` : `The token ${tokenId} cannot be found.`);
    }
    auth.forget(tokenId);
    return { TokenId: tokenId, RevocationDate: timestampOut(ctx.info.now) };
  });

  return new Map([create, list, revoke].map((o) => [o.name, o]));
}

/** How an approved CreateRpcToken change applies: nothing is written; the proposer collects the token by repeating the request. */
export function rpcTokenChangeAppliers(): Record<string, ChangeApplier> {
  return {
    CreateRpcToken: {
      protocol: 'kms',
      async apply(trx, _change, p) {
        if (!(await findUser(trx, String(p.UserName)))) throw new StaleChange(`the user ${String(p.UserName).slice(0, 64)} no longer exists`);
      },
    },
  };
}
