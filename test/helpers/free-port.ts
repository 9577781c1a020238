/**
 * A loopback port that was free a moment ago, for a server whose
 * configuration must name its port before it starts (the signer's, a second
 * server's). Another process may take it in between; the tests accept that.
 */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
