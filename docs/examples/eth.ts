// docs/eth.md's SDK example: a KMS wallet used through ethers and viem on the
// local chain. With the server and `npm run chain` running, from the
// repository root: node --import tsx docs/examples/eth.ts
import { readFileSync } from 'node:fs';
import { KMSClient } from '@aws-sdk/client-kms';
import { JsonRpcProvider, Wallet, parseEther } from 'ethers';
import { createWalletClient, http } from 'viem';
import { hardhat } from 'viem/chains';
import { KmsWalletManager, toKmsAccount } from '@symbolon/sdk';

const endpoint = process.env.SYMBOLON_ENDPOINT ?? 'http://127.0.0.1:8080';
const rpcUrl = process.env.SYMBOLON_CHAIN_RPC_URL ?? 'http://127.0.0.1:8545'; // npm run chain (chain id 31337)
const { accessKeyId, secretAccessKey, region } = JSON.parse(readFileSync(`${process.env.SYMBOLON_DATA_DIR ?? './data'}/admin-credentials.json`, 'utf8'));
const client = new KMSClient({ endpoint, region, credentials: { accessKeyId, secretAccessKey } });
const provider = new JsonRpcProvider(rpcUrl);
const recipient = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'; // development account #1 of npm run chain
const delegate = '0x5FbDB2315678afecb367f032d93F642f64180aa3'; // a contract the wallet delegates to (EIP-7702)

// Wallets: one ECC_SECG_P256K1 / SIGN_VERIFY key each.
const manager = new KmsWalletManager({ client, provider });
const { keyId, address } = await manager.createWallet({ tags: { team: 'ops' } });
// Fund it from development account #0 (its key is printed by npm run chain; public knowledge).
const funder = new Wallet('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80', provider);
await (await funder.sendTransaction({ to: address, value: parseEther('1') })).wait();
console.log(address, await manager.getBalance(keyId), await manager.getNonce(keyId));

// ethers v6: a Signer like Wallet, except the key is in KMS.
const signer = manager.getSigner(keyId); // or new KmsSigner({ client, keyId, provider })
await (await signer.sendTransaction({ to: recipient, value: parseEther('0.1') })).wait();
console.log(await signer.signMessage('hello'));
const domain = { name: 'Example', version: '1', chainId: 31337 };
const types = { Mail: [{ name: 'contents', type: 'string' }] };
console.log(await signer.signTypedData(domain, types, { contents: 'hello' }));
console.log(await signer.authorize({ address: delegate })); // EIP-7702

// viem: a local account for wallet clients.
const account = await toKmsAccount({ client, keyId });
const wallet = createWalletClient({ account, chain: hardhat, transport: http(rpcUrl) });
console.log(await wallet.sendTransaction({ to: recipient, value: 1n }));
console.log(await account.signAuthorization!({ address: delegate, chainId: 31337, nonce: 2 }));
provider.destroy();
client.destroy();
