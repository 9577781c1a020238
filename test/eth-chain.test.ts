/**
 * A real chain: Hardhat's EDR node (hardhat@2, in-process, JSON-RPC over a
 * loopback socket, hardfork Prague) and a real custodian. A KMS-backed wallet
 * is funded, sends transactions of types 0, 1, 2 and 4 (EIP-7702) signed
 * through the custodian with KmsSigner, and one through a viem wallet client
 * with toKmsAccount; receipts and balances are checked to the wei. The
 * ecrecover precompile (0x01) is called to check that EIP-191 and EIP-712
 * digests recover to the KMS address on chain.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AbiCoder, JsonRpcProvider, TypedDataEncoder, Wallet, getAddress, hashMessage, Signature, parseEther, type TransactionReceipt } from 'ethers';
import { createPublicClient, createWalletClient, defineChain, http, parseGwei, type Address } from 'viem';
import { type KmsSigner, KmsWalletManager, toKmsAccount } from '@symbolon/sdk';
import { startTestServer, STORE, type TestServer } from './helpers/server.js';
import { startHardhatNode as startChain, type LocalChain } from './helpers/chain.js';

const CHAIN_ID = 31337;
const FUNDER_KEY = `0x${'ac'.repeat(32)}`;

type Node = LocalChain;
const startHardhatNode = () => startChain(FUNDER_KEY, CHAIN_ID);

let kms: TestServer;
let node: Node;
let provider: JsonRpcProvider;
let manager: KmsWalletManager;
let signer: KmsSigner;
let address: Address;
let keyId: string;

before(async () => {
  [kms, node] = await Promise.all([startTestServer(), startHardhatNode()]);
  // cacheTimeout -1: ethers would otherwise answer a repeated eth_getTransactionCount from a 250 ms cache.
  provider = new JsonRpcProvider(node.url, CHAIN_ID, { staticNetwork: true, pollingInterval: 50, cacheTimeout: -1 });
  manager = new KmsWalletManager({ client: kms.kms(), provider });
  ({ keyId, address } = await manager.createWallet({ alias: 'chain-test', tags: { env: 'hardhat' } }));
  signer = manager.getSigner(keyId);
  const funder = new Wallet(FUNDER_KEY, provider);
  await (await funder.sendTransaction({ to: address, value: parseEther('10') })).wait();
});
after(async () => {
  provider?.destroy();
  await node?.close();
  await kms?.close();
});

function cost(receipt: TransactionReceipt): bigint {
  return receipt.gasUsed * receipt.gasPrice;
}

test(`a KMS-backed wallet sends type 0, 1 and 2 transactions signed through the custodian (${STORE})`, async () => {
  assert.equal(await manager.getBalance(keyId), parseEther('10'));
  assert.equal(await manager.getNonce(keyId), 0);
  const recipient = getAddress(`0x${'be'.repeat(20)}`);
  const before = await provider.getBalance(address);
  const requests = [
    { type: 0, to: recipient, value: 1000n },
    { type: 1, to: recipient, value: 2000n, accessList: [{ address: recipient, storageKeys: [`0x${'00'.repeat(31)}01`] }] },
    { type: 2, to: recipient, value: 3000n, maxPriorityFeePerGas: parseGwei('1') },
  ];
  let spent = 0n;
  for (const [i, request] of requests.entries()) {
    const response = await signer.sendTransaction(request);
    const receipt = (await response.wait())!;
    assert.equal(receipt.status, 1, `type ${request.type} succeeded`);
    assert.equal(receipt.from, address);
    assert.equal(receipt.type, request.type);
    const mined = (await provider.getTransaction(receipt.hash))!;
    assert.equal(mined.type, request.type);
    assert.equal(mined.nonce, i);
    if (request.type === 0) assert.equal(mined.signature.networkV, BigInt(CHAIN_ID * 2 + 35 + mined.signature.yParity), 'EIP-155 v on chain');
    spent += request.value + cost(receipt);
  }
  assert.equal(await provider.getBalance(recipient), 6000n);
  assert.equal(await provider.getBalance(address), before - spent);
  assert.equal(await manager.getNonce(keyId), 3);
});

test("a type-4 (EIP-7702) transaction carrying the KMS key's own authorization sets its code", async () => {
  const delegate = getAddress(`0x${'de'.repeat(20)}`);
  const nonce = await manager.getNonce(keyId);
  // The sender's nonce is bumped before the authorization list is processed: authorize nonce + 1.
  const authorization = await signer.authorize({ address: delegate, nonce: nonce + 1, chainId: CHAIN_ID });
  const response = await signer.sendTransaction({ type: 4, to: address, value: 0n, authorizationList: [authorization] });
  const receipt = (await response.wait())!;
  assert.equal(receipt.status, 1);
  assert.equal(receipt.type, 4);
  assert.equal(await provider.getCode(address), `0xef0100${delegate.slice(2).toLowerCase()}`);
  assert.equal(await manager.getNonce(keyId), nonce + 2);
});

test('toKmsAccount sends through a viem wallet client', async () => {
  const chain = defineChain({
    id: CHAIN_ID,
    name: 'hardhat',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [node.url] } },
  });
  const account = await toKmsAccount({ client: kms.kms(), keyId });
  assert.equal(account.address, address);
  const wallet = createWalletClient({ account, chain, transport: http(node.url) });
  const reader = createPublicClient({ chain, transport: http(node.url) });
  const recipient = `0x${'c0'.repeat(20)}` as Address;
  const hash = await wallet.sendTransaction({ to: recipient, value: 777n });
  const receipt = await reader.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  assert.equal(receipt.status, 'success');
  assert.equal(receipt.from.toLowerCase(), address.toLowerCase());
  assert.equal(await reader.getBalance({ address: recipient }), 777n);
});

async function ecrecover(digest: string, signature: string): Promise<string> {
  const sig = Signature.from(signature);
  const input = AbiCoder.defaultAbiCoder().encode(['bytes32', 'uint8', 'bytes32', 'bytes32'], [digest, sig.v, sig.r, sig.s]);
  const out = await provider.call({ to: '0x0000000000000000000000000000000000000001', data: input });
  return getAddress(`0x${out.slice(-40)}`);
}

test('the ecrecover precompile recovers the KMS address from EIP-191 and EIP-712 signatures', async () => {
  const message = 'Symbolon: sign in to example.org';
  const personal = await signer.signMessage(message);
  assert.equal(await ecrecover(hashMessage(message), personal), address);

  const domain = { name: 'Ether Mail', version: '1', chainId: CHAIN_ID, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' };
  const types = {
    Person: [
      { name: 'name', type: 'string' },
      { name: 'wallet', type: 'address' },
    ],
    Mail: [
      { name: 'from', type: 'Person' },
      { name: 'to', type: 'Person' },
      { name: 'contents', type: 'string' },
    ],
  };
  const value = { from: { name: 'Cow', wallet: address }, to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' }, contents: 'Hello, Bob!' };
  const typed = await signer.signTypedData(domain, types, value);
  assert.equal(await ecrecover(TypedDataEncoder.hash(domain, types, value), typed), address);
  // A tampered digest recovers someone else.
  assert.notEqual(await ecrecover(hashMessage(`${message}!`), personal), address);
});
