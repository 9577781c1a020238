/**
 * Opens the user's wallet with the backend of its custody mode: the mode of
 * the wallet the user already has (GET /v1/me), or, for a first wallet, the
 * mode the frame is configured to create.
 */
import type { FrameConfig } from './config.js';
import type { Session } from './session.js';
import type { CustodyMode, WalletBackend } from './wallet-backend.js';
import { EnvelopeBackend } from './envelope-backend.js';
import { SplitBackend } from './split-backend.js';

async function walletMode(config: FrameConfig, session: Session): Promise<CustodyMode | undefined> {
  const response = await fetch(`${config.walletApi}/v1/me`, {
    headers: { authorization: `Bearer ${await session.accessToken()}` },
    credentials: 'omit',
    cache: 'no-store',
  });
  const body = (await response.json().catch(() => undefined)) as
    | { wallet?: { custodyMode?: CustodyMode } | null; error?: { code?: string; message?: string } }
    | undefined;
  if (!response.ok) throw new Error(body?.error?.message ?? `The wallet service answered ${response.status}.`);
  return body?.wallet?.custodyMode ?? undefined;
}

function backendFor(mode: CustodyMode, config: FrameConfig): WalletBackend {
  if (mode === 'envelope')
    return new EnvelopeBackend({ walletApi: config.walletApi, custodianUrl: config.kmsEndpoint, region: config.region, roleArn: config.roleArn });
  if (mode === 'split')
    return new SplitBackend({
      walletApi: config.walletApi,
      custodianUrl: config.kmsEndpoint,
      region: config.region,
      roleArn: config.roleArn,
      signerUrl: config.signerUrl,
    });
  throw new Error(`Custody mode ${mode} is not available in this frame.`);
}

/**
 * @throws {SessionEndedError} when the session ended; errors of the wallet service and the backend.
 */
export async function openWallet(config: FrameConfig, session: Session): Promise<WalletBackend> {
  const mode = (await walletMode(config, session)) ?? config.custodyMode;
  const backend = backendFor(mode, config);
  await backend.login(session);
  return backend;
}
