/**
 * Reading the `UserName` of an IAM request and finding the user once the
 * caller is authorised for the action on it (shared by users.ts and user-tags.ts).
 */
import { findUser, type UserRow } from '../storage/iam.repository.js';
import { noSuchEntity } from './errors.js';
import type { IamContext } from './context.js';
import { USER_NAME, type QueryParams } from './params.js';

/** An IAM user's ARN: `arn:aws:iam::ACCOUNT:user/PATH/NAME`. */
export function userArn(accountId: string, path: string, name: string): string {
  return `arn:aws:iam::${accountId}:user${path}${name}`;
}

/**
 * Authorises `action` on the named user (its ARN, or the ARN it would have) and returns it.
 * @throws {AwsError} AccessDenied, or NoSuchEntity when there is no such user.
 */
export async function requireUserAuthorized(ctx: IamContext, action: string, name: string): Promise<UserRow> {
  const found = await findUser(ctx.store.db, name);
  await ctx.authorize(action, found?.arn ?? userArn(ctx.accountId, '/', name));
  if (!found) throw noSuchEntity(`The user with name ${name} cannot be found.`);
  return found;
}

export function readUserName(p: QueryParams, required: true): string;
export function readUserName(p: QueryParams, required?: false): string | undefined;
export function readUserName(p: QueryParams, required = false): string | undefined {
  return p.string('UserName', { required, min: 1, max: 64, pattern: USER_NAME });
}
