/**
 * The webhooks API: JSON 1.1 operations on the custodian's endpoint under
 * `X-Amz-Target: SymbolonMonitoring.<Operation>`, SigV4-signed for service
 * `kms` and audited like every KMS call (`symbolon admin webhook`).
 *
 * - CreateWebhook {Url, Events, ThresholdWei?, WindowSeconds?, Secret?}:
 *   answers the webhook and, when no Secret was given, the generated one —
 *   the only time it is ever shown.
 * - ListWebhooks {}: every webhook, never a secret.
 * - DeleteWebhook {WebhookId}.
 *
 * Each needs `symbolon:<Operation>` by identity policy (the account root
 * always may): a webhook sends alerts about every key of the account to a
 * URL of the caller's choosing.
 */
import { limitExceeded, notFound, validation } from '../aws/errors.js';
import { authorize } from '../kms/keys.js';
import { operation, type KmsOperation } from '../kms/operation.js';
import { WebhookError, webhookView, type WebhookDispatcher } from './webhooks.js';

function toAwsError(e: unknown): unknown {
  if (!(e instanceof WebhookError)) return e;
  return e.code === 'TooManyWebhooks' ? limitExceeded(e.message) : validation(e.message);
}

/** The `SymbolonMonitoring.*` operations by name, bound to the custodian's dispatcher. */
export function webhookOperations(webhooks: WebhookDispatcher): ReadonlyMap<string, KmsOperation> {
  const create = operation('CreateWebhook', async (input, ctx) => {
    const url = input.string('Url', { required: true, min: 1, max: 2048 });
    const events = input.stringList('Events', { max: 10 }) ?? [];
    const thresholdWei = input.string('ThresholdWei', { min: 1, max: 78 });
    const windowSeconds = input.integer('WindowSeconds', { min: 1 });
    const secret = input.string('Secret', { min: 16, max: 256 });
    await authorize(ctx, 'symbolon:CreateWebhook', undefined);
    try {
      const { webhook, secret: generated } = await webhooks.create({
        url,
        events,
        thresholdWei,
        windowSeconds,
        secret,
        createdBy: ctx.caller.arn,
        now: ctx.info.now,
      });
      return { Webhook: webhookView(webhook), ...(generated !== undefined ? { Secret: generated } : {}) };
    } catch (e) {
      throw toAwsError(e);
    }
  });
  const list = operation('ListWebhooks', async (_input, ctx) => {
    await authorize(ctx, 'symbolon:ListWebhooks', undefined);
    await webhooks.reload();
    return { Webhooks: webhooks.list().map(webhookView) };
  });
  const remove = operation('DeleteWebhook', async (input, ctx) => {
    const id = input.string('WebhookId', { required: true, min: 1, max: 64 });
    await authorize(ctx, 'symbolon:DeleteWebhook', undefined);
    if (!(await webhooks.delete(id))) throw notFound(`Webhook ${id.replace(/[^A-Za-z0-9-]/g, '?')} does not exist.`);
    return {};
  });
  return new Map([create, list, remove].map((o) => [o.name, o]));
}
