#!/usr/bin/env node
// `npm run chain`: a local Ethereum chain for the examples, in one command and
// with no config file to write. Hardhat's EDR network (the hardhat
// devDependency's programmatic API, as test/helpers/chain.ts uses it), chain id
// 31337 (what the wallet frame's example DApp expects, SYMBOLON_CHAIN_ID), JSON-RPC
// on http://127.0.0.1:8545, automining, and Hardhat's ten well-known
// development accounts funded with 10,000 ETH each, printed with their keys.
// Options: --port N (0 picks a free one), --host ADDRESS, --fund ADDRESS (also
// give ADDRESS, e.g. a Symbolon wallet, 100 ETH; repeatable). Ctrl-C stops it.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { HDNodeWallet, Mnemonic } from 'ethers';

const require = createRequire(import.meta.url);
// Hardhat's default development mnemonic: public knowledge, so are its keys.
const MNEMONIC = 'test test test test test test test test test test test junk';
const CHAIN_ID = 31337;
const BALANCE = 10n ** 22n; // 10,000 ETH

const { values } = parseArgs({
  options: { port: { type: 'string' }, host: { type: 'string' }, fund: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  process.stdout.write(
    'Usage: npm run chain [-- [--port 8545] [--host 127.0.0.1] [--fund ADDRESS]...]\n\nA local chain (Hardhat EDR, chain id 31337) with ten funded development accounts;\n--fund gives ADDRESS 100 ETH too.\n',
  );
  process.exit(0);
}
const port = Number(values.port ?? 8545);
const host = values.host ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('--port must be a port number\n');
  process.exit(2);
}

const funded = values.fund ?? [];
for (const a of funded) {
  if (!/^0x[0-9a-fA-F]{40}$/.test(a)) {
    process.stderr.write('--fund takes a 0x address (40 hex digits)\n');
    process.exit(2);
  }
}

const mnemonic = Mnemonic.fromPhrase(MNEMONIC);
const accounts = Array.from({ length: 10 }, (_, i) => HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/${i}`));

const { createHardhatNetworkProvider } = require('hardhat/internal/hardhat-network/provider/provider');
const { JsonRpcServer } = require('hardhat/internal/hardhat-network/jsonrpc/server');
const { defaultHardhatNetworkParams } = require('hardhat/internal/core/config/default-config');
const provider = await createHardhatNetworkProvider(
  {
    hardfork: 'prague',
    chainId: CHAIN_ID,
    networkId: CHAIN_ID,
    blockGasLimit: 30_000_000,
    minGasPrice: 0n,
    automine: true,
    intervalMining: 0,
    mempoolOrder: 'priority',
    chains: defaultHardhatNetworkParams.chains,
    genesisAccounts: accounts.map((a) => ({ privateKey: a.privateKey, balance: BALANCE.toString() })),
    allowUnlimitedContractSize: false,
    throwOnTransactionFailures: true,
    throwOnCallFailures: true,
    allowBlocksWithSameTimestamp: false,
    enableTransientStorage: false,
    enableRip7212: false,
  },
  { enabled: false },
);
for (const a of funded) await provider.request({ method: 'hardhat_setBalance', params: [a, `0x${(10n ** 20n).toString(16)}`] });
const server = new JsonRpcServer({ hostname: host, port, provider });
let listening;
try {
  listening = await server.listen();
} catch (e) {
  process.stderr.write(`npm run chain: cannot listen on ${host}:${port} (${e.code ?? e.message}); is another node running? Use -- --port N\n`);
  process.exit(1);
}
const url = `http://${listening.address.includes(':') ? `[${listening.address}]` : listening.address}:${listening.port}`;
process.stdout.write(
  [
    `Local chain (Hardhat EDR, chain id ${CHAIN_ID}) listening on ${url}`,
    '',
    'Funded accounts, 10,000 ETH each. Development keys known to everyone: never use them on a real chain.',
    ...accounts.map((a, i) => `  #${i}  ${a.address}  ${a.privateKey}`),
    ...(funded.length ? ['', 'Funded with 100 ETH (--fund):', ...funded.map((a) => `  ${a}`)] : []),
    '',
    'Ctrl-C stops it.',
    '',
  ].join('\n'),
);

const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
