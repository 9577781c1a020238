/**
 * GetCallerIdentity (STS API Reference): who the signed caller is. For a role
 * session `UserId` is `ROLEID:SESSION` (aws:userid) and `Arn` the
 * assumed-role ARN; for the account root `UserId` is the account id; for an
 * IAM user it is the user name (this custodian keeps no separate user id in
 * the credential).
 */
import { el } from '../iam/xml.js';
import { principalFromArn } from '../aws/policy/request.js';
import { invalidAction } from './errors.js';
import type { StsAction } from './context.js';

export const getCallerIdentity: StsAction = {
  name: 'GetCallerIdentity',
  anonymous: false,
  async handle(_params, ctx) {
    const caller = ctx.caller;
    if (!caller) throw invalidAction('GetCallerIdentity needs a signed request.');
    const kind = principalFromArn(caller.arn, caller.accountId).kind;
    const userId = kind === 'root' ? caller.accountId : caller.userName;
    return el('UserId', userId) + el('Account', caller.accountId) + el('Arn', caller.arn);
  },
};
