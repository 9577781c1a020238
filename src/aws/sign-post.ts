/**
 * The headers of a SigV4-signed POST (AWS General Reference, "Signature
 * Version 4") for the few calls no AWS SDK client makes: Symbolon's own
 * JSON targets (src/cli/admin.ts) and STS GetWebIdentityUser
 * (src/wallet/custodian-users.ts).
 */
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/** Signs a POST of `body` to `endpoint` for `service`; returns the headers to send (host and `headers` included). */
export async function signedPostHeaders(o: {
  endpoint: string;
  service: string;
  region: string;
  credentials: SigningCredentials;
  headers: Record<string, string>;
  body: string;
}): Promise<Record<string, string>> {
  const url = new URL(o.endpoint);
  const { accessKeyId, secretAccessKey, sessionToken } = o.credentials;
  const credentials = sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
  const signer = new SignatureV4({ credentials, region: o.region, service: o.service, sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname || '/',
      headers: { host: url.host, ...o.headers },
      body: o.body,
    }),
  );
  return signed.headers as Record<string, string>;
}
