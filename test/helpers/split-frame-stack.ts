/**
 * What the split-custody frame tests run against (test/frame-split.test.ts,
 * test/frame-split-policy.test.ts, test/frame-export.test.ts,
 * test/share-rotation-frame.test.ts): the web build, a real wallet service
 * (built-in issuer, dev mailbox, custodian, STS) with
 * SYMBOLON_FRAME_CUSTODY_MODE=split, the signer forked by the server's own
 * code as `serve --role all` does (startSignerChild), optionally Hardhat's
 * EDR node and the example DApp on another origin, and Chromium with a
 * FrameDriver unless the browser tests are skipped. Each test adds its own
 * listeners to the context.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import type { TestServer } from './server.js';
import { startSplitFrameServer } from './split-world.js';
import { startHardhatNode, type LocalChain } from './chain.js';
import { browserSkip, FrameDriver, launchChromium } from './frame-browser.js';
import { startExampleDapp, type ExampleDapp } from '../../src/server/frame.js';
import type { SignerProcess } from '../../src/signer/platform.js';

export interface SplitFrameStack {
  server: TestServer;
  signer: SignerProcess;
  /** The local chain and the example DApp on it, when a chain was asked for. */
  node: LocalChain | undefined;
  dapp: ExampleDapp | undefined;
  /** `<server>/frame/`. */
  frameUrl: string;
  /** Chromium on a fresh user-data directory, and its driver: undefined when the browser tests are skipped. */
  context: BrowserContext | undefined;
  driver: FrameDriver | undefined;
  /** Stops everything that was started, in reverse order. */
  close(): Promise<void>;
}

/**
 * Starts the stack; on a failure part-way, stops what had started and rethrows.
 * @param options.chain a Hardhat node (funded by `funderKey`) and the example DApp allowed to embed the frame.
 */
export async function startSplitFrameStack(options: { chain?: { chainId: number; funderKey: string } } = {}): Promise<SplitFrameStack> {
  const stops: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) await stop();
  };
  try {
    const build = spawnSync(process.execPath, ['scripts/build-web.js'], { encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build:web failed: ${build.stderr}`);
    let frameUrl = '';
    let node: LocalChain | undefined;
    let dapp: ExampleDapp | undefined;
    if (options.chain) {
      const { chainId } = options.chain;
      const chain = await startHardhatNode(options.chain.funderKey, chainId);
      node = chain;
      stops.push(() => chain.close());
      const d = await startExampleDapp({
        host: '127.0.0.1',
        port: 0,
        frameUrl: () => frameUrl,
        chains: [{ chainId, name: 'Local chain (Hardhat)', rpcUrl: chain.url }],
      });
      dapp = d;
      stops.push(() => d.close());
    }
    const { server, signer } = await startSplitFrameServer({
      ...(dapp ? { SYMBOLON_FRAME_ALLOWED_ORIGINS: dapp.origin } : {}),
      ...(node ? { SYMBOLON_CHAIN_RPC_URL: node.url } : {}),
    });
    stops.push(() => server.close());
    stops.push(() => signer.stop());
    frameUrl = `${server.endpoint}/frame/`;
    let context: BrowserContext | undefined;
    let driver: FrameDriver | undefined;
    if (!browserSkip) {
      const userDataDir = mkdtempSync(join(tmpdir(), 'symbolon-chromium-'));
      stops.push(() => rmSync(userDataDir, { recursive: true, force: true }));
      const c = await launchChromium(userDataDir);
      context = c;
      stops.push(() => c.close());
      driver = new FrameDriver(c, frameUrl, server.endpoint);
    }
    return { server, signer, node, dapp, frameUrl, context, driver, close };
  } catch (e) {
    await close();
    throw e;
  }
}
