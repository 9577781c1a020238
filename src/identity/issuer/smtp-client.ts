/**
 * A minimal SMTP client (RFC 5321) for sending one plain-text message: EHLO,
 * STARTTLS when the server offers it (RFC 3207), AUTH PLAIN when the URL has
 * credentials (RFC 4954), MAIL FROM, RCPT TO, DATA with dot-stuffing, QUIT.
 * `smtps://` uses implicit TLS (RFC 8314). Credentials are never sent over an
 * unencrypted connection except to a loopback relay.
 *
 * URL forms: `smtp://[user:pass@]host[:port]` (port 25 by default; STARTTLS if
 * offered; `?tls=required` refuses to continue without it) and
 * `smtps://[user:pass@]host[:port]` (port 465).
 */
import net from 'node:net';
import tls from 'node:tls';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';

export interface MailMessage {
  from: string;
  to: string;
  subject: string;
  text: string;
}

/** Sending failed; the message names the SMTP step and reply code, never credentials or the body. */
export class SmtpError extends Error {
  override name = 'SmtpError';
}

const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*$/;
const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|::1|\[::1\])$/i;

interface Reply {
  code: number;
  lines: string[];
}

/** Reads SMTP replies (possibly multi-line: "250-…" then "250 …") from a socket. */
class ReplyReader {
  #buffer = '';
  #replyLines: string[] = [];
  #replies: Reply[] = [];
  #waiters: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  #error: Error | undefined;

  attach(socket: net.Socket): void {
    // No setEncoding: the raw socket may be handed to TLS after STARTTLS.
    socket.on('data', (chunk: Buffer) => this.#push(chunk.toString('utf8')));
    socket.on('error', (e) => this.#fail(new SmtpError(`connection error (${(e as NodeJS.ErrnoException).code ?? e.name})`)));
    socket.on('close', () => this.#fail(new SmtpError('connection closed by the server')));
  }

  #push(chunk: string): void {
    this.#buffer += chunk;
    if (this.#buffer.length > 64 * 1024) {
      this.#fail(new SmtpError('reply too long'));
      return;
    }
    let i: number;
    while ((i = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, i).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(i + 1);
      const m = /^(\d{3})([ -])(.*)$/.exec(line) ?? /^(\d{3})()$/.exec(line);
      if (!m) {
        this.#fail(new SmtpError('malformed reply from the server'));
        return;
      }
      this.#replyLines.push(m[3] ?? '');
      if (m[2] !== '-') {
        const reply = { code: Number(m[1]), lines: this.#replyLines };
        this.#replyLines = [];
        const w = this.#waiters.shift();
        if (w) w.resolve(reply);
        else this.#replies.push(reply);
      }
    }
  }

  #fail(e: Error): void {
    this.#error ??= e;
    for (const w of this.#waiters.splice(0)) w.reject(this.#error);
  }

  next(): Promise<Reply> {
    const r = this.#replies.shift();
    if (r) return Promise.resolve(r);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }
}

function checkAddress(a: string, field: string): string {
  if (typeof a !== 'string' || !ADDRESS.test(a)) throw new TypeError(`${field} must be a plain email address`);
  return a;
}

/** RFC 5321 §4.5.2: a line starting with "." gets another "."; lines end in CRLF. */
function dotStuff(text: string): string {
  return text
    .replace(/\r?\n/g, '\r\n')
    .split('\r\n')
    .map((l) => (l.startsWith('.') ? '.' + l : l))
    .join('\r\n');
}

function buildMessage(m: MailMessage, heloName: string): string {
  if (/[\r\n]/.test(m.subject)) throw new TypeError('subject must be one line');
  const headers = [
    `From: <${m.from}>`,
    `To: <${m.to}>`,
    `Subject: ${m.subject}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${randomUUID()}@${heloName}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
  ];
  return dotStuff(headers.join('\r\n') + '\r\n\r\n' + m.text) + '\r\n.\r\n';
}

/**
 * Sends one message through the relay named by `url`.
 * @throws {TypeError} when the URL or an address is malformed.
 * @throws {SmtpError} when the connection or an SMTP step fails.
 */
export async function sendMail(options: {
  url: string;
  message: MailMessage;
  timeoutMs?: number;
  /** Extra TLS options (e.g. a CA for a private relay). */
  tlsOptions?: tls.ConnectionOptions;
}): Promise<void> {
  let u: URL;
  try {
    u = new URL(options.url);
  } catch {
    throw new TypeError('SMTP URL must be smtp://host[:port] or smtps://host[:port]');
  }
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') throw new TypeError('SMTP URL must start with smtp:// or smtps://');
  const { message } = options;
  checkAddress(message.from, 'from');
  checkAddress(message.to, 'to');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const implicitTls = u.protocol === 'smtps:';
  const port = u.port ? Number(u.port) : implicitTls ? 465 : 25;
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  const requireTls = u.searchParams.get('tls') === 'required';
  const heloName = (hostname() || 'localhost').replace(/[^A-Za-z0-9.-]/g, '') || 'localhost';
  const timeoutMs = options.timeoutMs ?? 15_000;

  const sni = net.isIP(host) ? {} : { servername: host };
  let socket: net.Socket = implicitTls ? tls.connect({ host, port, ...sni, ...options.tlsOptions }) : net.connect({ host, port });
  let encrypted = implicitTls;
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timeout')));
  let reader = new ReplyReader();
  reader.attach(socket);

  const send = (line: string) => socket.write(line + '\r\n');
  const expect = async (step: string, ok: (code: number) => boolean): Promise<Reply> => {
    const r = await reader.next();
    if (!ok(r.code)) throw new SmtpError(`SMTP ${step} failed with reply ${r.code}`);
    return r;
  };
  const ehlo = async (): Promise<Set<string>> => {
    send(`EHLO ${heloName}`);
    const r = await expect('EHLO', (c) => c === 250);
    return new Set(r.lines.slice(1).map((l) => l.toUpperCase()));
  };

  try {
    await expect('greeting', (c) => c === 220);
    let extensions = await ehlo();
    if (!encrypted && extensions.has('STARTTLS')) {
      send('STARTTLS');
      await expect('STARTTLS', (c) => c === 220);
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      socket = tls.connect({ socket, ...sni, ...options.tlsOptions });
      socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timeout')));
      reader = new ReplyReader();
      reader.attach(socket);
      await new Promise<void>((resolve, reject) => {
        (socket as tls.TLSSocket).once('secureConnect', resolve);
        socket.once('error', reject);
      });
      encrypted = true;
      extensions = await ehlo();
    }
    if (requireTls && !encrypted) throw new SmtpError('the SMTP server does not offer STARTTLS and the URL requires TLS');
    if (user) {
      if (!encrypted && !LOOPBACK.test(host)) throw new SmtpError('refusing to send SMTP credentials over an unencrypted connection');
      const plain = Buffer.from(`\u0000${user}\u0000${pass}`, 'utf8');
      send(`AUTH PLAIN ${plain.toString('base64')}`);
      plain.fill(0);
      await expect('AUTH', (c) => c === 235);
    }
    send(`MAIL FROM:<${message.from}>`);
    await expect('MAIL FROM', (c) => c === 250);
    send(`RCPT TO:<${message.to}>`);
    await expect('RCPT TO', (c) => c === 250 || c === 251);
    send('DATA');
    await expect('DATA', (c) => c === 354);
    socket.write(buildMessage(message, heloName));
    await expect('message', (c) => c === 250);
    send('QUIT');
    await reader.next().catch(() => undefined);
  } finally {
    socket.destroy();
  }
}
