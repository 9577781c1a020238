/**
 * The development mailbox: when no SMTP relay is configured, login codes are
 * kept here (in this process's memory) and served at
 * `GET /oidc/dev/mailbox?email=…`, so a developer or a test can log in without
 * a mail server. Only enabled with SYMBOLON_DEV_MAILBOX=1 or on the embedded
 * default without SMTP; never meant for a deployment (docs/identity.md).
 */

export interface DevMessage {
  to: string;
  subject: string;
  text: string;
  code: string;
  sentAt: number;
}

const PER_ADDRESS = 20;
const ADDRESSES = 1000;

export class DevMailbox {
  readonly #boxes = new Map<string, DevMessage[]>();

  deliver(message: DevMessage): void {
    let box = this.#boxes.get(message.to);
    if (!box) {
      if (this.#boxes.size >= ADDRESSES) {
        const oldest = this.#boxes.keys().next();
        if (!oldest.done) this.#boxes.delete(oldest.value);
      }
      box = [];
      this.#boxes.set(message.to, box);
    }
    box.push(message);
    if (box.length > PER_ADDRESS) box.shift();
  }

  /** Messages to `email`, newest first. */
  read(email: string): DevMessage[] {
    return [...(this.#boxes.get(email) ?? [])].reverse();
  }
}
