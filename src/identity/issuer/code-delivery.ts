/**
 * Delivers a login code: by SMTP when SYMBOLON_SMTP_URL is set; otherwise in
 * development mode, where the code is written to the log and, when enabled,
 * to the dev mailbox. With SMTP, the code never reaches a log line.
 */
import type { Logger } from 'pino';
import { sendMail } from './smtp-client.js';
import type { DevMailbox } from './dev-mailbox.js';

export interface CodeDelivery {
  readonly mode: 'smtp' | 'development';
  /** @throws {SmtpError} when the SMTP relay refuses or cannot be reached. */
  deliver(email: string, code: string, expiresInSec: number, now: number): Promise<void>;
}

export function createCodeDelivery(options: {
  smtpUrl: string | undefined;
  from: string;
  devMailbox: DevMailbox | undefined;
  logger: Logger;
  /** Product name in the message. */
  name?: string;
}): CodeDelivery {
  const { smtpUrl, from, devMailbox, logger } = options;
  const name = options.name ?? 'Symbolon';
  const compose = (code: string, expiresInSec: number) => ({
    subject: `Your ${name} sign-in code`,
    text: `Your ${name} sign-in code is ${code}.\n\nIt expires in ${Math.round(expiresInSec / 60)} minutes and works once. If you did not ask for it, ignore this message.\n`,
  });
  return {
    mode: smtpUrl ? 'smtp' : 'development',
    async deliver(email, code, expiresInSec, now) {
      const { subject, text } = compose(code, expiresInSec);
      if (smtpUrl) {
        await sendMail({ url: smtpUrl, message: { from, to: email, subject, text } });
      } else {
        // Development mode only (no SMTP configured): the operator reads the code here.
        logger.info({ email, devLoginCode: code }, `development mode: sign-in code for ${email} is ${code} (configure SYMBOLON_SMTP_URL to send it by email)`);
      }
      devMailbox?.deliver({ to: email, subject, text, code, sentAt: now });
    },
  };
}
