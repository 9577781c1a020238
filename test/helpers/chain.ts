/**
 * A real local Ethereum node for tests: Hardhat's EDR-based network (Prague
 * hardfork) in this process, served over JSON-RPC on a random loopback port,
 * with one funded genesis account.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const CHAIN_ID = 31337;

export interface LocalChain {
  url: string;
  close(): Promise<void>;
}

/** Starts the node; `funderKey` (0x-hex private key) holds 10^6 ETH at genesis. */
export async function startHardhatNode(funderKey: string, chainId = CHAIN_ID): Promise<LocalChain> {
  const { createHardhatNetworkProvider } = require('hardhat/internal/hardhat-network/provider/provider');
  const { JsonRpcServer } = require('hardhat/internal/hardhat-network/jsonrpc/server');
  const { defaultHardhatNetworkParams } = require('hardhat/internal/core/config/default-config');
  const provider = await createHardhatNetworkProvider(
    {
      hardfork: 'prague',
      chainId,
      networkId: chainId,
      blockGasLimit: 30_000_000,
      minGasPrice: 0n,
      automine: true,
      intervalMining: 0,
      mempoolOrder: 'priority',
      chains: defaultHardhatNetworkParams.chains,
      genesisAccounts: [{ privateKey: funderKey, balance: (10n ** 24n).toString() }],
      allowUnlimitedContractSize: false,
      throwOnTransactionFailures: true,
      throwOnCallFailures: true,
      allowBlocksWithSameTimestamp: false,
      enableTransientStorage: false,
      enableRip7212: false,
    },
    { enabled: false },
  );
  const server = new JsonRpcServer({ hostname: '127.0.0.1', port: 0, provider });
  const { port } = await server.listen();
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}
