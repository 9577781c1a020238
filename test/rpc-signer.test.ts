/**
 * The JSON-RPC signer (docs/rpc.md) end to end: a real custodian on a real
 * socket, a real Hardhat/EDR node as the upstream (SYMBOLON_CHAIN_RPC_URL),
 * API tokens made and revoked with `symbolon admin`, and the real client
 * libraries — ethers v6, viem and web3.js — unchanged apart from the URL and
 * the Authorization header. Receipts, balances and recovered signers are
 * checked on chain; batches mix allowed and denied calls; a user without
 * kms:Sign on a key neither sees it nor signs with it; malformed requests get
 * JSON-RPC's codes and sign nothing; every signing call leaves one audit
 * event without the payload or the token.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, GetPublicKeyCommand } from '@aws-sdk/client-kms';
import {
  FetchRequest,
  JsonRpcProvider,
  Transaction,
  TypedDataEncoder,
  Wallet,
  getAddress as ethersGetAddress,
  parseEther,
  verifyMessage,
  verifyTypedData,
} from 'ethers';
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  parseTransaction,
  recoverMessageAddress,
  recoverTransactionAddress,
  recoverTypedDataAddress,
  type Address,
  type Hex,
} from 'viem';
import { Web3, HttpProvider } from 'web3';
import { startTestServer, ADMIN, REGION, STORE, type TestServer } from './helpers/server.js';
import { startHardhatNode, type LocalChain } from './helpers/chain.js';
import { adminCommand } from '../src/cli/admin.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';
import type { AuditEvent, AuditSink } from '../src/audit/event.js';

const CHAIN_ID = 31337;
const FUNDER_KEY = `0x${'ad'.repeat(32)}`;
const chain = defineChain({
  id: CHAIN_ID,
  name: 'hardhat',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: ['http://127.0.0.1:1'] } },
});

/** Every audit event the custodian records, in order. */
const events: AuditEvent[] = [];
const recording: AuditSink = {
  record: (e) => void events.push(e),
  recordDurable: async (e) => void events.push(e),
  flush: async () => {},
};

let server: TestServer;
let node: LocalChain;
let rpcUrl: string;
/** Alice may sign with key A (only through the signer); Bob may sign with nothing. */
let aliceToken: string;
let aliceTokenId: string;
let bobToken: string;
let addressA: Address;
let addressB: Address;
let keyArnA: string;

const typedData = {
  domain: { name: 'Ether Mail', version: '1', chainId: CHAIN_ID, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' as Address },
  types: {
    Person: [
      { name: 'name', type: 'string' },
      { name: 'wallet', type: 'address' },
    ],
    Mail: [
      { name: 'from', type: 'Person' },
      { name: 'to', type: 'Person' },
      { name: 'contents', type: 'string' },
      { name: 'amount', type: 'uint256' },
    ],
  },
  primaryType: 'Mail' as const,
  message: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' as Address },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' as Address },
    contents: 'Hello, Bob!',
    amount: 123456789012345678901234567890n,
  },
};

async function admin(args: string[]): Promise<string> {
  let out = '';
  let err = '';
  const env = { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_REGION: REGION };
  const code = await adminCommand([...args, '--endpoint', server.endpoint], { out: (s) => void (out += s), err: (s) => void (err += s), env });
  assert.equal(code, 0, `symbolon admin ${args.join(' ')}: ${err}`);
  return out;
}

async function newKey(): Promise<{ arn: string; address: Address }> {
  const kms = server.kms();
  const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
  const { PublicKey } = await kms.send(new GetPublicKeyCommand({ KeyId: KeyMetadata!.KeyId! }));
  return { arn: KeyMetadata!.Arn!, address: publicKeyToAddress(PublicKey!) };
}

/** One raw POST /rpc. */
async function rpc(body: unknown, token: string | null = aliceToken, raw = false): Promise<{ status: number; json: any }> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const call = (method: string, params: unknown[] = [], id: number | string = 1) => ({ jsonrpc: '2.0', id, method, params });

async function nonceOf(address: Address): Promise<number> {
  const { json } = await rpc(call('eth_getTransactionCount', [address, 'latest']));
  return Number(json.result);
}

before(async () => {
  node = await startHardhatNode(FUNDER_KEY, CHAIN_ID);
  server = await startTestServer({
    // A long key cache: a change made after eth_accounts is seen by the signing call itself (the tests below rely on it, not on timing).
    env: { SYMBOLON_CHAIN_RPC_URL: node.url, SYMBOLON_KEY_CACHE_TTL_MS: '60000' },
    audit: recording,
    ...(process.env.DATABASE_URL ? { pgSchema: `rpc16_${randomBytes(6).toString('hex')}` } : {}),
  });
  rpcUrl = `${server.endpoint}/rpc`;
  const [a, b] = [await newKey(), await newKey()];
  addressA = a.address;
  addressB = b.address;
  keyArnA = a.arn;
  const policy = join(server.dataDir, 'alice-policy.json');
  writeFileSync(
    policy,
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'kms:Sign', Resource: a.arn, Condition: { StringEquals: { 'kms:ViaService': 'rpc.symbolon' } } }],
    }),
  );
  await admin(['create-user', '--name', 'alice', '--no-access-key']);
  await admin(['put-user-policy', '--name', 'alice', '--policy-file', policy]);
  await admin(['create-user', '--name', 'bob', '--no-access-key']);
  const created = JSON.parse(await admin(['create-rpc-token', '--user', 'alice', '--json']));
  aliceToken = created.token;
  aliceTokenId = created.tokenId;
  bobToken = JSON.parse(await admin(['create-rpc-token', '--user', 'bob', '--json'])).token;
  const funderProvider = new JsonRpcProvider(node.url, CHAIN_ID, { staticNetwork: true, cacheTimeout: -1 });
  const funder = new Wallet(FUNDER_KEY, funderProvider);
  await (await funder.sendTransaction({ to: addressA, value: parseEther('10') })).wait();
  await (await funder.sendTransaction({ to: addressB, value: parseEther('10') })).wait();
  funderProvider.destroy();
});

after(async () => {
  await node?.close();
  await server?.close();
});

test(`create-rpc-token prints the token once; list-rpc-tokens shows ids, never tokens (${STORE})`, async () => {
  assert.match(aliceToken, /^symrpc_[A-Za-z0-9_-]{43}$/);
  const listed = await admin(['list-rpc-tokens', '--user', 'alice']);
  assert.match(listed, new RegExp(aliceTokenId));
  assert.ok(!listed.includes(aliceToken), 'the list never shows a token');
  const json = JSON.parse(await admin(['list-rpc-tokens', '--json']));
  assert.equal(json.Tokens.length, 2);
  assert.ok(!JSON.stringify(json).includes(aliceToken.slice(7)));
});

test('eth_accounts lists exactly the keys the user may sign with through the signer', async () => {
  assert.deepEqual((await rpc(call('eth_accounts'))).json.result, [addressA]);
  assert.deepEqual((await rpc(call('eth_accounts'), bobToken)).json.result, [], 'bob has no kms:Sign anywhere');
  assert.equal((await rpc(call('eth_chainId'))).json.result, '0x7a69');
});

test('ethers v6: JsonRpcProvider + getSigner(address) sends a transaction, signs a message and typed data', async () => {
  const request = new FetchRequest(rpcUrl);
  request.setHeader('Authorization', `Bearer ${aliceToken}`);
  const provider = new JsonRpcProvider(request, CHAIN_ID, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50 });
  try {
    const signer = await provider.getSigner(addressA);
    const to = ethersGetAddress(`0x${'e1'.repeat(20)}`);
    const response = await signer.sendTransaction({ to, value: 12345n });
    const receipt = (await response.wait())!;
    assert.equal(receipt.status, 1);
    assert.equal(receipt.from, addressA);
    assert.equal(await provider.getBalance(to), 12345n);
    const mined = (await provider.getTransaction(receipt.hash))!;
    const recovered = Transaction.from({
      type: mined.type,
      chainId: mined.chainId,
      nonce: mined.nonce,
      to: mined.to,
      value: mined.value,
      data: mined.data,
      gasLimit: mined.gasLimit,
      maxFeePerGas: mined.maxFeePerGas,
      maxPriorityFeePerGas: mined.maxPriorityFeePerGas,
      signature: mined.signature,
    });
    assert.equal(recovered.from, addressA, 'the signature on chain recovers to the key');

    const signature = await signer.signMessage('hello from ethers');
    assert.equal(verifyMessage('hello from ethers', signature), addressA);
    const { EIP712Domain: _d, ...types } = TypedDataEncoder.getPayload(typedData.domain, typedData.types, typedData.message).types;
    const typed = await signer.signTypedData(typedData.domain, types, typedData.message);
    assert.equal(verifyTypedData(typedData.domain, typedData.types, typedData.message, typed), addressA);
  } finally {
    provider.destroy();
  }
});

test('viem: a wallet client with a JSON-RPC account sends a transaction, signs a message and typed data', async () => {
  const transport = http(rpcUrl, { fetchOptions: { headers: { Authorization: `Bearer ${aliceToken}` } } });
  const wallet = createWalletClient({ account: addressA, chain, transport });
  const client = createPublicClient({ chain, transport });
  const to = `0x${'e2'.repeat(20)}` as Address;
  const hash = await wallet.sendTransaction({ to, value: 777n });
  const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  assert.equal(receipt.status, 'success');
  assert.equal(receipt.from.toLowerCase(), addressA.toLowerCase());
  assert.equal(await client.getBalance({ address: to }), 777n);

  const signature = await wallet.signMessage({ message: 'hello from viem' });
  assert.equal(await recoverMessageAddress({ message: 'hello from viem', signature }), addressA);
  const typed = await wallet.signTypedData(typedData);
  assert.equal(await recoverTypedDataAddress({ ...typedData, signature: typed }), addressA);
});

test('web3.js: eth.sendTransaction through the signer is mined', async () => {
  const web3 = new Web3(new HttpProvider(rpcUrl, { providerOptions: { headers: { Authorization: `Bearer ${aliceToken}` } } }));
  const to = `0x${'e3'.repeat(20)}`;
  const receipt = await web3.eth.sendTransaction({ from: addressA, to, value: 4242n });
  assert.equal(receipt.status, 1n);
  assert.equal(String(receipt.from).toLowerCase(), addressA.toLowerCase());
  assert.equal(await web3.eth.getBalance(to), 4242n);
});

test('eth_signTransaction and eth_sign return signatures that recover to the key; one audit event each, without the payload', async () => {
  const before = events.length;
  const tx = {
    from: addressA,
    to: `0x${'e4'.repeat(20)}`,
    value: '0x1',
    gas: '0x5208',
    maxFeePerGas: '0x77359400',
    maxPriorityFeePerGas: '0x1',
    nonce: '0x63',
    chainId: '0x7a69',
    type: '0x2',
  };
  const signed = (await rpc(call('eth_signTransaction', [tx]))).json.result as Hex;
  const parsed = parseTransaction(signed);
  assert.equal(parsed.nonce, 99);
  assert.equal(parsed.to, tx.to);
  assert.equal(await recoverTransactionAddress({ serializedTransaction: signed as never }), addressA);
  const message = '0xdeadbeef';
  const sig = (await rpc(call('eth_sign', [addressA, message]))).json.result as Hex;
  assert.equal(await recoverMessageAddress({ message: { raw: message }, signature: sig }), addressA);
  const mine = events.slice(before);
  assert.deepEqual(
    mine.map((e) => [e.service, e.operation, e.outcome, e.keyArn, e.accessKeyId]),
    [
      ['rpc', 'eth_signTransaction', 'allowed', keyArnA, aliceTokenId],
      ['rpc', 'eth_sign', 'allowed', keyArnA, aliceTokenId],
    ],
  );
  assert.ok(mine.every((e) => e.principalArn?.endsWith(':user/alice')));
  // The decoded fields of the decision are recorded (docs/signing-policy.md, docs/audit.md); the payload itself,
  // the message and the token never are.
  assert.deepEqual(
    mine.map((e) => [e.eth?.payloadType, e.eth?.decision, e.eth?.chainId, e.eth?.to, e.eth?.value]),
    [
      ['transaction', 'allow', '31337', tx.to, '1'],
      ['message', 'allow', undefined, undefined, undefined],
    ],
  );
  const text = JSON.stringify(events);
  const withoutDecoded = JSON.stringify(events.map(({ eth: _eth, ...rest }) => rest));
  assert.ok(!text.includes('deadbeef') && !text.includes(aliceToken) && !withoutDecoded.includes('e4e4e4'), 'no payload or token in the audit log');
});

test('a batch mixing allowed and denied calls answers each on its own; nothing is signed for the denied one', async () => {
  const before = events.length;
  const nonceB = await nonceOf(addressB);
  const { status, json } = await rpc([
    call('personal_sign', ['0x68656c6c6f', addressA], 'ok'),
    call('eth_sendTransaction', [{ from: addressB, to: addressA, value: '0x1' }], 'denied'),
    call('eth_blockNumber', [], 'proxied'),
    call('personal_sign', ['0x68656c6c6f', addressB], 'denied-too'),
  ]);
  assert.equal(status, 200);
  const byId = new Map((json as any[]).map((r) => [r.id, r]));
  assert.equal(byId.size, 4);
  assert.equal(await recoverMessageAddress({ message: 'hello', signature: byId.get('ok').result }), addressA);
  assert.equal(byId.get('denied').error.code, 4100);
  assert.equal(byId.get('denied').result, undefined);
  assert.equal(byId.get('denied-too').error.code, 4100);
  assert.match(byId.get('proxied').result, /^0x[0-9a-f]+$/);
  assert.equal(await nonceOf(addressB), nonceB, "nothing was sent from B's key");
  const mine = events.slice(before);
  assert.deepEqual(mine.map((e) => [e.operation, e.outcome]).sort(), [
    ['eth_sendTransaction', 'denied'],
    ['personal_sign', 'allowed'],
    ['personal_sign', 'denied'],
  ]);
  // Bob has a token but no permission on any key: refused the same way.
  const bob = await rpc(
    call('eth_signTransaction', [{ from: addressA, to: addressB, value: '0x1', gas: '0x5208', nonce: '0x0', chainId: '0x7a69', gasPrice: '0x1' }]),
    bobToken,
  );
  assert.equal(bob.json.error.code, 4100);
});

test('the key policy decides: a key alice is allowed on only through another service is neither listed nor signed', async () => {
  const c = await newKey();
  const policy = join(server.dataDir, 'alice-policy-2.json');
  writeFileSync(
    policy,
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'kms:Sign', Resource: c.arn, Condition: { StringEquals: { 'kms:ViaService': 'api.symbolon' } } }],
    }),
  );
  await admin(['put-user-policy', '--name', 'alice', '--policy-name', 'other', '--policy-file', policy]);
  assert.equal((await rpc(call('personal_sign', ['0x01', c.address]))).json.error.code, 4100, 'looked up again, still not allowed');
  assert.deepEqual((await rpc(call('eth_accounts'))).json.result, [addressA]);
  assert.equal((await rpc(call('personal_sign', ['0x01', c.address]))).json.error.code, 4100);
});

test('methods the signer does not answer are proxied to the node; the node’s own keys and controls are not reachable', async () => {
  const direct = await (
    await fetch(node.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(call('eth_getBalance', [addressA, 'latest'])),
    })
  ).json();
  assert.equal((await rpc(call('eth_getBalance', [addressA, 'latest']))).json.result, direct.result);
  assert.equal((await rpc(call('net_version'))).json.result, String(CHAIN_ID));
  for (const method of [
    'personal_listAccounts',
    'personal_unlockAccount',
    'eth_signTypedData_v3',
    'hardhat_mine',
    'evm_mine',
    'admin_peers',
    'debug_traceTransaction',
  ]) {
    const { json } = await rpc(call(method, []));
    assert.equal(json.error?.code, -32601, method);
    assert.match(json.error.message, /not offered through the signer/, method);
  }
  const unknown = await rpc(call('foo_bar', []));
  const nodeSays = await (
    await fetch(node.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(call('foo_bar', [])) })
  ).json();
  assert.deepEqual(unknown.json.error.code, nodeSays.error.code, "the node's own answer to a method it does not know");
  assert.equal(unknown.json.error.message, nodeSays.error.message);
});

test('bad JSON, bad requests, bad params and oversized bodies get their codes, and nothing is signed', async () => {
  const before = events.length;
  const nonceA = await nonceOf(addressA);
  const parse = await rpc('{"jsonrpc":"2.0",', aliceToken, true);
  assert.equal(parse.status, 200);
  assert.deepEqual(parse.json, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'The request body is not valid JSON.' } });
  assert.equal((await rpc({ id: 1, method: 'eth_accounts' })).json.error.code, -32600, 'no jsonrpc: "2.0"');
  assert.equal((await rpc([])).json.error.code, -32600, 'empty batch');
  assert.equal((await rpc(Array.from({ length: 101 }, (_, i) => call('eth_chainId', [], i)))).json.error.code, -32600, 'batch over 100');
  const badParams = [
    call('eth_sendTransaction', [{ from: 'nope', to: addressB }]),
    call('eth_sendTransaction', [{ from: addressA, to: addressB, value: '0x1', smuggled: '0x00' }]),
    call('eth_sendTransaction', [{ from: addressA, to: '0x1234', value: '0x1', gas: '0x5208' }]),
    call('eth_sendTransaction', [{ from: addressA, to: addressB, value: 'lots', gas: '0x5208' }]),
    call('eth_sendTransaction', [{ from: addressA, to: addressB, value: '0x1', chainId: '0x1' }]),
    call('eth_signTypedData_v4', [addressA, '{not json']),
    call('personal_sign', ['0x01']),
    call('eth_sign', [addressA, 'not hex']),
  ];
  for (const c of badParams) {
    const { json } = await rpc(c);
    assert.equal(json.error?.code, -32602, JSON.stringify(c.params));
    assert.ok(!/at |Error:/.test(json.error.message), 'no stack trace');
  }
  const big = await rpc(JSON.stringify(call('eth_chainId', ['x'.repeat(1024 * 1024)])), aliceToken, true);
  assert.equal(big.status, 413);
  assert.equal(big.json.error.code, -32600);
  assert.equal(await nonceOf(addressA), nonceA, 'nothing was sent');
  assert.deepEqual(
    events.slice(before).filter((e) => e.outcome === 'allowed'),
    [],
    'nothing was signed',
  );
});

test('a missing, unknown or revoked token gets HTTP 401 and 4100; a revoked one is audited as denied', async () => {
  for (const token of [null, 'symrpc_' + 'A'.repeat(43), 'garbage']) {
    const { status, json } = await rpc(call('eth_accounts'), token);
    assert.equal(status, 401);
    assert.equal(json.error.code, 4100);
  }
  const temp = JSON.parse(await admin(['create-rpc-token', '--user', 'alice', '--json']));
  assert.deepEqual((await rpc(call('eth_accounts'), temp.token)).json.result, [addressA]);
  await admin(['delete-rpc-token', '--id', temp.tokenId]);
  const before = events.length;
  const { status, json } = await rpc(call('personal_sign', ['0x01', addressA]), temp.token);
  assert.equal(status, 401);
  assert.equal(json.error.code, 4100);
  assert.match(json.error.message, /revoked/);
  const denied = events.slice(before);
  assert.deepEqual(
    denied.map((e) => [e.service, e.operation, e.outcome, e.errorCode, e.accessKeyId]),
    [['rpc', 'Authenticate', 'denied', 'RevokedToken', temp.tokenId]],
  );
  assert.match(await admin(['list-rpc-tokens', '--user', 'alice']), new RegExp(`${temp.tokenId}.*revoked`));
});

test('every signing call is authorized again: a key disabled, or an explicit Deny, after eth_accounts listed it', async () => {
  const d = await newKey();
  const allow = join(server.dataDir, 'alice-allow-d.json');
  writeFileSync(allow, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:Sign', Resource: d.arn }] }));
  await admin(['put-user-policy', '--name', 'alice', '--policy-name', 'd', '--policy-file', allow]);
  const ok = (await rpc(call('personal_sign', ['0x02', d.address]))).json.result;
  assert.equal(await recoverMessageAddress({ message: { raw: '0x02' }, signature: ok }), d.address);

  const before = events.length;
  await server.kms().send(new DisableKeyCommand({ KeyId: d.arn }));
  const disabled = (await rpc(call('personal_sign', ['0x02', d.address]))).json;
  assert.equal(disabled.error.code, -32003);
  assert.match(disabled.error.message, /disabled/);
  await server.kms().send(new EnableKeyCommand({ KeyId: d.arn }));

  const deny = join(server.dataDir, 'alice-deny-d.json');
  writeFileSync(deny, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'kms:Sign', Resource: d.arn }] }));
  await admin(['put-user-policy', '--name', 'alice', '--policy-name', 'deny-d', '--policy-file', deny]);
  const denied = (
    await rpc(call('eth_signTransaction', [{ from: d.address, to: addressB, value: '0x1', gas: '0x5208', nonce: '0x0', chainId: '0x7a69', gasPrice: '0x1' }]))
  ).json;
  assert.equal(denied.error.code, -32001);
  assert.match(denied.error.message, /not authorized to perform: kms:Sign/);
  assert.deepEqual(
    events
      .slice(before)
      .filter((e) => e.service === 'rpc')
      .map((e) => [e.operation, e.outcome, e.errorCode, e.keyArn]),
    [
      ['personal_sign', 'error', 'DisabledException', d.arn],
      ['eth_signTransaction', 'denied', 'AccessDeniedException', d.arn],
    ],
  );
});

test('concurrent eth_sendTransaction calls from one sender get consecutive nonces and are all mined', async () => {
  const first = await nonceOf(addressA);
  const to = `0x${'e5'.repeat(20)}`;
  const { json } = await rpc([1, 2, 3, 4].map((i) => call('eth_sendTransaction', [{ from: addressA, to, value: `0x${i.toString(16)}` }], i)));
  assert.ok(
    (json as any[]).every((r) => typeof r.result === 'string'),
    JSON.stringify(json),
  );
  assert.equal(await nonceOf(addressA), first + 4);
  assert.equal((await rpc(call('eth_getBalance', [to, 'latest']))).json.result, '0xa');
});

// Last: it sets an account quorum rule, which every later permission change in this server would need.
test('under an account quorum rule, a token for another user is a change the approvers must approve first', async () => {
  const account = server.custodian.accountId;
  await admin([
    'approvals',
    'set-rule',
    '--account',
    '--approver',
    `arn:aws:iam::${account}:root`,
    '--approver',
    `arn:aws:iam::${account}:user/alice`,
    '--threshold',
    '2',
  ]);
  const before = JSON.parse(await admin(['list-rpc-tokens', '--user', 'bob', '--json'])).Tokens.length;
  let out = '';
  let err = '';
  const env = { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_REGION: REGION };
  const code = await adminCommand(['create-rpc-token', '--user', 'bob', '--json', '--endpoint', server.endpoint], {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    env,
  });
  assert.equal(code, 1);
  assert.equal(out, '', 'no token printed');
  assert.match(err, /CreateRpcToken change [0-9a-f-]+ on bob pending approval \(1 of 2\)/);
  assert.equal(JSON.parse(await admin(['list-rpc-tokens', '--user', 'bob', '--json'])).Tokens.length, before, 'no token made');
});
