/**
 * The isolated signer as real processes: a custodian (STS + KMS) on loopback,
 * signers launched by the real platform (measured image, forked child,
 * attestation over the fork channel), owners whose tokens come from a
 * loopback OIDC issuer, split wallets made the way a device makes them.
 *
 * Covered: every payload type signed and checked with viem and ethers (and
 * byte-identical to viem signing with the whole key), an EIP-1559 transfer
 * broadcast and mined on a local Hardhat (EDR) node; attacks that must fail —
 * a tampered share B (share_mismatch), another owner's token, bad tokens, a
 * signer whose code changed (different ImageSha384, refused by the key
 * policy), a signer whose platform key the custodian does not trust, a stale
 * attestation; the signer process's environment holds no database URL, root
 * key or credential; and no share, key or token appears in any log line of
 * the custodian or of any signer, at level trace. Attested sessions: releases
 * reuse one attestation document (the custodian verifies it once); against a
 * custodian in single-use mode (SYMBOLON_ATTESTATION_SESSION_SECONDS=0) the
 * signer falls back to a fresh document per release.
 *
 * STS (AssumeRoleWithWebIdentity) at the custodian is how the signer gets
 * the owner's credentials.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider, Transaction, Wallet, verifyMessage as ethersVerifyMessage, verifyTypedData as ethersVerifyTypedData, parseEther } from 'ethers';
import { keccak256, recoverTransactionAddress, verifyMessage, verifyTypedData, bytesToHex, type Hex } from 'viem';
import { recoverAuthorizationAddress } from 'viem/utils';
import { privateKeyToAccount } from 'viem/accounts';
import { startSplitFixture, postSign, signBody, type SplitFixture, type SplitWallet, type LaunchedSigner } from './helpers/signer-fixture.js';
import { PlatformKey } from '../src/attestation/platform-key.js';
import { measureSignerImage, REPOSITORY_ROOT } from '../src/signer/measure.js';
import { startHardhatNode } from './helpers/chain.js';

const typedData = {
  domain: { name: 'Mail', version: '1', chainId: 31337, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
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
  primaryType: 'Mail',
  message: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
    contents: 'Hello, Bob!',
    amount: '1000000000000000000',
  },
} as const;

describe('split-key signer (real processes)', () => {
  let fx: SplitFixture;
  let signer: LaunchedSigner;
  let alice: SplitWallet;
  let aliceToken: string;
  let bobToken: string;

  before(async () => {
    fx = await startSplitFixture();
    signer = await fx.launch();
    alice = await fx.createWallet('alice');
    aliceToken = await fx.token('alice');
    bobToken = await fx.token('bob');
  });

  after(async () => {
    await fx?.close();
  });

  test("the signer is its own process, measured at launch, without the custodian's secrets in its environment", () => {
    assert.notEqual(signer.child.pid, process.pid);
    assert.equal(signer.image.imageSha384, fx.imageSha384);
    assert.match(signer.image.imageSha384, /^[0-9a-f]{96}$/);
    const paths = signer.image.files.map((f) => f.path);
    assert.ok(paths.includes('src/signer/main.ts') && paths.includes('src/crypto/secp256k1.ts') && paths.includes('src/eth/signTransaction.ts'));
    // The platform is not part of the image; neither is any storage or custodian code.
    assert.ok(!paths.some((p) => p.startsWith('src/storage/') || p.startsWith('src/kms/') || p === 'src/signer/platform.ts'), paths.join(' '));
    const environ = readFileSync(`/proc/${signer.child.pid}/environ`, 'utf8').split('\u0000');
    for (const name of ['DATABASE_URL', 'SYMBOLON_ROOT_KEY', 'SYMBOLON_ADMIN_ACCESS_KEY_ID', 'SYMBOLON_ADMIN_SECRET_ACCESS_KEY', 'AWS_SECRET_ACCESS_KEY']) {
      assert.ok(!environ.some((e) => e.startsWith(`${name}=`)), name);
    }
  });

  test("signs an EIP-1559 and a legacy EIP-155 transaction: ethers and viem recover the wallet, bytes equal viem's own", async () => {
    const account = privateKeyToAccount(bytesToHex(alice.privateKey));
    const eip1559 = {
      type: 'eip1559',
      chainId: 31337,
      nonce: 7,
      to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      value: '1000000000000000',
      gas: 21000,
      maxFeePerGas: '0x77359400',
      maxPriorityFeePerGas: '1000000000',
      data: '0x',
    } as const;
    const r = await postSign(signer.url, signBody(alice, aliceToken, { type: 'transaction', transaction: eip1559 }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.type, 'transaction');
    assert.equal(await recoverTransactionAddress({ serializedTransaction: r.json.signedTransaction }), alice.address);
    assert.equal(Transaction.from(r.json.signedTransaction).from, alice.address);
    assert.equal(r.json.hash, keccak256(r.json.signedTransaction));
    const expected = await account.signTransaction({
      ...eip1559,
      value: 1000000000000000n,
      gas: 21000n,
      maxFeePerGas: 2000000000n,
      maxPriorityFeePerGas: 1000000000n,
    });
    assert.equal(r.json.signedTransaction, expected);

    const legacy = {
      type: 'legacy',
      chainId: 1,
      nonce: 0,
      to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      value: 1,
      gas: 21000,
      gasPrice: '20000000000',
    } as const;
    const l = await postSign(signer.url, signBody(alice, aliceToken, { type: 'transaction', transaction: legacy }));
    assert.equal(l.status, 200, JSON.stringify(l.json));
    const tx = Transaction.from(l.json.signedTransaction);
    assert.equal(tx.from, alice.address);
    assert.equal(tx.chainId, 1n);
    assert.ok(tx.signature!.v === 27 || tx.signature!.v === 28);
    assert.ok(tx.signature!.networkV === 37n || tx.signature!.networkV === 38n, 'EIP-155 v = chainId * 2 + 35 + yParity');
    assert.equal(l.json.signedTransaction, await account.signTransaction({ ...legacy, value: 1n, gas: 21000n, gasPrice: 20000000000n }));
  });

  test('signs an EIP-191 message (text and raw bytes)', async () => {
    const account = privateKeyToAccount(bytesToHex(alice.privateKey));
    const r = await postSign(signer.url, signBody(alice, aliceToken, { type: 'message', message: 'hello symbolon' }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(await verifyMessage({ address: alice.address, message: 'hello symbolon', signature: r.json.signature }), true);
    assert.equal(ethersVerifyMessage('hello symbolon', r.json.signature), alice.address);
    assert.equal(r.json.signature, await account.signMessage({ message: 'hello symbolon' }));
    const raw = await postSign(signer.url, signBody(alice, aliceToken, { type: 'message', message: { raw: '0xdeadbeef' } }));
    assert.equal(raw.json.signature, await account.signMessage({ message: { raw: '0xdeadbeef' } }));
  });

  test('signs EIP-712 typed data', async () => {
    const r = await postSign(signer.url, signBody(alice, aliceToken, { type: 'typedData', typedData }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const typed = { ...typedData, message: { ...typedData.message, amount: 10n ** 18n } };
    assert.equal(await verifyTypedData({ address: alice.address, ...typed, signature: r.json.signature }), true);
    const { Mail, Person } = typedData.types;
    assert.equal(ethersVerifyTypedData(typedData.domain, { Mail: [...Mail], Person: [...Person] }, typedData.message, r.json.signature), alice.address);
  });

  test('signs an EIP-7702 authorization', async () => {
    const authorization = { address: '0x0000000000000000000000000000000000000b0b', chainId: 31337, nonce: 3 };
    const r = await postSign(signer.url, signBody(alice, aliceToken, { type: 'authorization', authorization }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const a = r.json.authorization;
    assert.deepEqual({ address: a.address.toLowerCase(), chainId: a.chainId, nonce: a.nonce }, authorization);
    assert.equal(await recoverAuthorizationAddress({ authorization: { ...a, yParity: a.yParity } }), alice.address);
  });

  test('the token may come as Authorization: Bearer', async () => {
    const body = signBody(alice, aliceToken, { type: 'message', message: 'bearer' });
    delete body.token;
    const r = await postSign(signer.url, body, { authorization: `Bearer ${aliceToken}` });
    assert.equal(r.status, 200, JSON.stringify(r.json));
  });

  test('a tampered share B is detected by the address check: share_mismatch, nothing signed', async () => {
    for (const flip of [0, 13, 31]) {
      const shareB = new Uint8Array(alice.shareB);
      shareB[flip]! ^= 0x40;
      const r = await postSign(signer.url, signBody(alice, aliceToken, { type: 'message', message: 'x' }, { shareB: Buffer.from(shareB).toString('base64') }));
      assert.equal(r.status, 422);
      assert.equal(r.json.error.code, 'share_mismatch');
      assert.deepEqual(Object.keys(r.json), ['error']);
    }
    const short = await postSign(
      signer.url,
      signBody(alice, aliceToken, { type: 'message', message: 'x' }, { shareB: Buffer.from(alice.shareB.subarray(0, 31)).toString('base64') }),
    );
    assert.equal(short.status, 400);
    assert.equal(short.json.error.code, 'bad_request');
  });

  test("another owner's token cannot release alice's share A", async () => {
    const r = await postSign(signer.url, signBody(alice, bobToken, { type: 'message', message: 'x' }));
    assert.equal(r.status, 403, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'release_refused');
    // Bob's own wallet, with alice's share A ciphertext: the context {sub: bob} does not open it either.
    const bob = await fx.createWallet('bob');
    const mixed = await postSign(
      signer.url,
      signBody(bob, bobToken, { type: 'message', message: 'x' }, { shareACiphertext: Buffer.from(alice.shareACiphertext).toString('base64') }),
    );
    assert.ok(mixed.status === 403 || mixed.status === 422, JSON.stringify(mixed.json));
    assert.ok(['release_refused', 'share_ciphertext_invalid'].includes(mixed.json.error.code));
  });

  test('bad tokens are refused by the signer itself (invalid_token)', async () => {
    const expired = await fx.token('alice', { exp: Math.floor(Date.now() / 1000) - 600 });
    const wrongAudience = await fx.issuer.mint('alice', { aud: 'someone-else' });
    fx.secrets.add(wrongAudience);
    const forged = aliceToken.slice(0, -4) + (aliceToken.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    for (const [token, reason] of [
      [expired, 'token_expired'],
      [wrongAudience, 'wrong_audience'],
      [forged, 'bad_signature'],
      ['not-a-jwt', 'malformed_token'],
    ] as const) {
      const r = await postSign(signer.url, signBody(alice, token, { type: 'message', message: 'x' }));
      assert.equal(r.status, 401, reason);
      assert.equal(r.json.error.code, 'invalid_token');
      assert.match(r.json.error.message, new RegExp(reason));
    }
    const none = signBody(alice, aliceToken, { type: 'message', message: 'x' });
    delete none.token;
    assert.equal((await postSign(signer.url, none)).json.error.code, 'invalid_token');
  });

  test('bad requests and payloads get stable codes', async () => {
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [signBody(alice, aliceToken, { type: 'transaction', transaction: { to: alice.address, gas: 21000, nonce: 0 } }), 400, 'invalid_payload'],
      [signBody(alice, aliceToken, { type: 'transaction', transaction: { chainId: 1, nonce: 0, gas: 21000, sneaky: 1 } }), 400, 'invalid_payload'],
      [
        signBody(alice, aliceToken, { type: 'transaction', transaction: { chainId: 1, nonce: 0, gas: 21000, maxFeePerGas: 1, maxPriorityFeePerGas: 2 } }),
        400,
        'invalid_payload',
      ],
      [signBody(alice, aliceToken, { type: 'sign-anything', data: '0x' }), 400, 'invalid_payload'],
      [signBody(alice, aliceToken, { type: 'typedData', typedData: { ...typedData, message: { from: 1 } } }), 400, 'invalid_payload'],
      [{ ...signBody(alice, aliceToken, { type: 'message', message: 'x' }), extra: 1 }, 400, 'bad_request'],
      [signBody(alice, aliceToken, { type: 'message', message: 'x' }, { address: '0x1234' }), 400, 'bad_request'],
      [signBody(alice, aliceToken, { type: 'message', message: 'x' }, { shareB: 'not base64!' }), 400, 'bad_request'],
    ];
    for (const [i, [body, status, code]] of cases.entries()) {
      const r = await postSign(signer.url, body);
      assert.equal(r.status, status, `case ${i}: ${JSON.stringify(r.json)} ${signer.lines.filter((l) => l.includes('unexpectedly')).join(' ')}`);
      assert.equal(r.json.error.code, code, JSON.stringify(r.json));
    }
    const res = await fetch(`${signer.url}/v1/sign`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"payload":' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as any).error.code, 'bad_request');
  });

  test('a signer whose code was changed has another measurement, and the key policy refuses it', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'symbolon-modified-signer-'));
    try {
      for (const f of measureSignerImage().files) {
        if (f.path === 'package.json') continue;
        cpSync(join(REPOSITORY_ROOT, f.path), join(copy, f.path), { recursive: true });
      }
      // One changed line of the signer: what an attacker who edits the code on disk produces.
      appendFileSync(join(copy, 'src/signer/signWithSplitKey.ts'), '\n// changed after review\n');
      symlinkSync(join(REPOSITORY_ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
      const modified = await fx.launch({ sourceRoot: copy, modulesRoot: REPOSITORY_ROOT });
      assert.notEqual(modified.image.imageSha384, fx.imageSha384);
      assert.deepEqual(modified.image.pcrs.get(1), signer.image.pcrs.get(1), 'same runtime');
      const r = await postSign(modified.url, signBody(alice, aliceToken, { type: 'message', message: 'x' }));
      assert.equal(r.status, 403, JSON.stringify(r.json));
      assert.equal(r.json.error.code, 'release_refused');
      // A wallet whose key policy names the modified image is served by it (the check is the measurement, nothing else).
      const carol = await fx.createWallet('carol', { requireImageSha384: modified.image.imageSha384 });
      const ok = await postSign(modified.url, signBody(carol, await fx.token('carol'), { type: 'message', message: 'x' }));
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      const refused = await postSign(signer.url, signBody(carol, await fx.token('carol'), { type: 'message', message: 'x' }));
      assert.equal(refused.json.error.code, 'release_refused');
      await modified.stop();
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  test('a signer launched by a platform the custodian does not trust is refused (attestation_refused)', async () => {
    const rogue = await fx.launch({ platformKey: PlatformKey.fromSecret(PlatformKey.generateSecret()) });
    const r = await postSign(rogue.url, signBody(alice, aliceToken, { type: 'message', message: 'x' }));
    assert.equal(r.status, 502);
    assert.equal(r.json.error.code, 'attestation_refused');
    assert.match(r.json.error.message, /untrusted_platform/);
    await rogue.stop();
  });

  test('releases reuse one attestation document: the platform signs it once, the custodian verifies it once', async () => {
    const verifier = fx.server.custodian.deps.recipientAttestation!;
    const issued = signer.issued;
    const stats = verifier.stats;
    for (let i = 0; i < 4; i++) {
      const r = await postSign(signer.url, signBody(alice, aliceToken, { type: 'message', message: `reuse ${i}` }));
      assert.equal(r.status, 200, JSON.stringify(r.json));
    }
    // At most one refresh (60 s) can fall inside these four releases.
    assert.ok(signer.issued - issued <= 1, `documents issued: ${signer.issued - issued}`);
    const after = verifier.stats;
    assert.ok(after.verified - stats.verified <= 1 && after.sessionHits - stats.sessionHits >= 3, JSON.stringify({ stats, after }));
    // The owner's token is still needed on every release: bob's is refused with the same (reused) document.
    const r = await postSign(signer.url, signBody(alice, bobToken, { type: 'message', message: 'x' }));
    assert.notEqual(r.status, 200);
  });

  test('a stale attestation (platform clock 10 minutes behind) is refused', async () => {
    const late = await fx.launch({ now: () => Date.now() - 10 * 60_000 });
    const r = await postSign(late.url, signBody(alice, aliceToken, { type: 'message', message: 'x' }));
    assert.equal(r.status, 502);
    assert.equal(r.json.error.code, 'attestation_refused');
    assert.match(r.json.error.message, /stale/);
    await late.stop();
  });

  test('broadcast: an EIP-1559 transfer signed by the split signer is mined on a local Hardhat node', async () => {
    const funderKey = `0x${'ac'.repeat(32)}`;
    const node = await startHardhatNode(funderKey);
    const provider = new JsonRpcProvider(node.url, 31337, { staticNetwork: true });
    try {
      await (await new Wallet(funderKey, provider).sendTransaction({ to: alice.address, value: parseEther('1') })).wait();
      const fee = await provider.getFeeData();
      const recipient = '0x000000000000000000000000000000000000dEaD';
      const tx = {
        type: 'eip1559',
        chainId: 31337,
        nonce: await provider.getTransactionCount(alice.address),
        to: recipient,
        value: parseEther('0.25').toString(),
        gas: 21000,
        maxFeePerGas: (fee.maxFeePerGas! * 2n).toString(),
        maxPriorityFeePerGas: fee.maxPriorityFeePerGas!.toString(),
      };
      const r = await postSign(signer.url, signBody(alice, aliceToken, { type: 'transaction', transaction: tx }));
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const sent = await provider.broadcastTransaction(r.json.signedTransaction as Hex);
      assert.equal(sent.hash, r.json.hash);
      const receipt = await sent.wait();
      assert.equal(receipt!.status, 1);
      assert.equal(receipt!.from, alice.address);
      assert.equal(await provider.getBalance(recipient), parseEther('0.25'));
    } finally {
      provider.destroy();
      await node.close();
    }
  });

  test('no share, key or token appears in any log line of the custodian or of any signer (level trace)', async () => {
    // Let the signers flush what they wrote.
    await new Promise((r) => setTimeout(r, 200));
    const lines = [...fx.custodianLines, ...signer.lines];
    assert.ok(
      signer.lines.some((l) => l.includes('signer ready')),
      'the signer logged',
    );
    assert.ok(fx.custodianLines.length > 0, 'the custodian logged');
    const leaks: string[] = [];
    for (const secret of fx.secrets) {
      if (secret.length < 16) continue;
      for (const l of lines) if (l.includes(secret)) leaks.push(`${secret.slice(0, 6)}… in ${l.slice(0, 120)}`);
    }
    assert.deepEqual(leaks, []);
  });
});

describe('split-key signer against a custodian in single-use mode (SYMBOLON_ATTESTATION_SESSION_SECONDS=0)', () => {
  let fx: SplitFixture;

  before(async () => {
    fx = await startSplitFixture({ env: { SYMBOLON_ATTESTATION_SESSION_SECONDS: '0' } });
  });

  after(async () => {
    await fx?.close();
  });

  test('a signer that reuses documents by default falls back to a fresh document per release', async () => {
    const signer = await fx.launch();
    const carol = await fx.createWallet('carol');
    const token = await fx.token('carol');
    for (let i = 0; i < 3; i++) {
      const r = await postSign(signer.url, signBody(carol, token, { type: 'message', message: `single ${i}` }));
      assert.equal(r.status, 200, JSON.stringify(r.json));
    }
    // First release: a fresh document; second: the reused one is refused (replayed), retried once with a
    // fresh one; from then on a fresh document per release.
    assert.equal(signer.issued, 3);
    assert.deepEqual(fx.server.custodian.deps.recipientAttestation!.stats, { verified: 3, sessionHits: 0 });
  });
});

describe('split-key signer against a custodian whose attested sessions are shorter than its refresh (SYMBOLON_ATTESTATION_SESSION_SECONDS=1)', () => {
  let fx: SplitFixture;

  before(async () => {
    fx = await startSplitFixture({ env: { SYMBOLON_ATTESTATION_SESSION_SECONDS: '1' } });
  });

  after(async () => {
    await fx?.close();
  });

  test('a reused document refused as stale is replaced once, and reuse resumes with the fresh one', async () => {
    const signer = await fx.launch();
    const dave = await fx.createWallet('dave');
    const token = await fx.token('dave');
    const sign = async (i: number) => {
      const r = await postSign(signer.url, signBody(dave, token, { type: 'message', message: `short ${i}` }));
      assert.equal(r.status, 200, JSON.stringify(r.json));
    };
    const verifier = fx.server.custodian.deps.recipientAttestation!;
    await sign(0);
    await sign(1); // inside the custodian's 1 s session: a hash hit
    assert.deepEqual([signer.issued, verifier.stats.verified, verifier.stats.sessionHits], [1, 1, 1]);
    await new Promise((r) => setTimeout(r, 1100));
    await sign(2); // the signer's document (refresh 60 s) is stale there now: refused, retried with a fresh one
    assert.deepEqual([signer.issued, verifier.stats.verified], [2, 2]);
    await sign(3); // and the fresh one is reused again
    assert.deepEqual([signer.issued, verifier.stats.verified, verifier.stats.sessionHits], [2, 2, 2]);
  });
});
