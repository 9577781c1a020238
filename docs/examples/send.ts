// The README's KmsSigner example: send ETH from the wallet alias/treasury
// (created by docs/examples/quickstart.sh) on the local chain. With the server
// running and the chain started with that wallet funded:
//   npm run chain -- --fund $(node bin/symbolon.js wallet address --key alias/treasury)
// run from the repository root: node --import tsx docs/examples/send.ts
import { readFileSync } from 'node:fs';
import { JsonRpcProvider } from 'ethers';
import { KmsSigner } from '@symbolon/sdk';

const endpoint = process.env.SYMBOLON_ENDPOINT ?? 'http://127.0.0.1:8080';
const data = process.env.SYMBOLON_DATA_DIR ?? './data';
const { accessKeyId, secretAccessKey, region } = JSON.parse(readFileSync(`${data}/admin-credentials.json`, 'utf8'));
const provider = new JsonRpcProvider(process.env.SYMBOLON_CHAIN_RPC_URL ?? 'http://127.0.0.1:8545');
const signer = new KmsSigner({ client: { endpoint, region, credentials: { accessKeyId, secretAccessKey } }, keyId: 'alias/treasury', provider });
const to = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'; // development account #1 of npm run chain
const sent = await signer.sendTransaction({ to, value: 10n ** 16n });
const receipt = await sent.wait();
console.log(`sent 0.01 ETH from ${await signer.getAddress()} to ${to}: ${sent.hash}, status ${receipt?.status}`);
provider.destroy();
