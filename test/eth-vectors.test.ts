/**
 * src/eth against published vectors, signing with the same libsecp256k1 code
 * the custodian signs with (src/crypto/secp256k1.ts signDigest):
 *  - ethers' testcases: transactions.json.gz (3,200 cases, five serializations
 *    each), typed-data.json.gz, accounts.json.gz;
 *  - ethereum/tests TransactionTests: every valid case parses and recovers its
 *    sender, every invalid case is refused;
 *  - extracted/eth-signing-vectors.json: EIP-155, EIP-712 Mail, EIP-191, EIP-7702.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToHex, hashTypedData, hexToBytes, keccak256, serializeTransaction, type Address, type Hex, type TransactionSerializable } from 'viem';
import { getPublicKey, signDigest } from '../src/crypto/secp256k1.js';
import { encodeEcSpki } from '../src/crypto/der.js';
import { publicKeyToAddress } from '../src/eth/publicKeyToAddress.js';
import { signTransaction } from '../src/eth/signTransaction.js';
import { signTypedData } from '../src/eth/signTypedData.js';
import { signMessage } from '../src/eth/signMessage.js';
import { signAuthorization } from '../src/eth/signAuthorization.js';
import { signHash } from '../src/eth/signHash.js';
import { hashTransaction } from '../src/eth/hashTransaction.js';
import { parseSignedTransaction } from '../src/eth/parseSignedTransaction.js';
import { InvalidTransactionError } from '../src/eth/errors.js';
import type { DigestSigner } from '../src/eth/types.js';
import { absentMessage, readVectorJson, vectorPath } from './helpers/vectors.js';

function localSigner(privateKey: Hex): { signer: DigestSigner; address: Address } {
  const sk = hexToBytes(privateKey);
  return {
    signer: async (digest) => signDigest(digest, sk).signature,
    address: publicKeyToAddress(getPublicKey(sk)),
  };
}

interface EthersTxCase {
  name: string;
  privateKey: Hex;
  transaction: {
    to?: Address;
    nonce?: number;
    gasLimit?: Hex;
    gasPrice?: Hex;
    maxFeePerGas?: Hex;
    maxPriorityFeePerGas?: Hex;
    data?: Hex;
    value?: Hex;
    accessList?: { address: Address; storageKeys: Hex[] }[];
    chainId?: Hex;
    maxFeePerBlobGas?: Hex;
    blobVersionedHashes?: Hex[];
  };
  [key: string]: unknown;
}

type Variant = 'Legacy' | 'Eip155' | 'Berlin' | 'London' | 'Cancun';

function ethersToViem(t: EthersTxCase['transaction'], variant: Variant): TransactionSerializable {
  const big = (h: Hex | undefined) => (h === undefined ? undefined : BigInt(h));
  const common: Record<string, unknown> = {
    ...(t.to ? { to: t.to } : {}),
    ...(t.nonce ? { nonce: t.nonce } : {}),
    ...(t.gasLimit ? { gas: big(t.gasLimit) } : {}),
    ...(t.value ? { value: big(t.value) } : {}),
    ...(t.data ? { data: t.data } : {}),
  };
  const chainId = t.chainId ? Number(BigInt(t.chainId)) : 0;
  const accessList = t.accessList ?? [];
  switch (variant) {
    case 'Legacy':
      return { ...common, type: 'legacy', ...(t.gasPrice ? { gasPrice: big(t.gasPrice) } : {}) } as TransactionSerializable;
    case 'Eip155':
      // ethers treats chain id 0 as "no EIP-155"; so does viem when the field is absent.
      return { ...common, type: 'legacy', ...(chainId ? { chainId } : {}), ...(t.gasPrice ? { gasPrice: big(t.gasPrice) } : {}) } as TransactionSerializable;
    case 'Berlin':
      return { ...common, type: 'eip2930', chainId, accessList, ...(t.gasPrice ? { gasPrice: big(t.gasPrice) } : {}) } as TransactionSerializable;
    case 'London':
      return {
        ...common,
        type: 'eip1559',
        chainId,
        accessList,
        maxFeePerGas: big(t.maxFeePerGas) ?? 0n,
        maxPriorityFeePerGas: big(t.maxPriorityFeePerGas) ?? 0n,
      } as TransactionSerializable;
    case 'Cancun':
      return {
        ...common,
        type: 'eip4844',
        chainId,
        accessList,
        maxFeePerGas: big(t.maxFeePerGas) ?? 0n,
        maxPriorityFeePerGas: big(t.maxPriorityFeePerGas) ?? 0n,
        maxFeePerBlobGas: big(t.maxFeePerBlobGas) ?? 0n,
        blobVersionedHashes: t.blobVersionedHashes ?? [],
      } as unknown as TransactionSerializable;
  }
}

const TX_VECTORS = 'ethers/testcases/transactions.json.gz';
test('ethers transactions.json.gz: every unsigned and signed serialization, through src/eth and libsecp256k1', {
  skip: !vectorPath(TX_VECTORS) && absentMessage(TX_VECTORS),
}, async (t) => {
  const cases = readVectorJson<EthersTxCase[]>(vectorPath(TX_VECTORS)!);
  assert.equal(cases.length, 3200);
  const variants: Variant[] = ['Legacy', 'Eip155', 'Berlin', 'London', 'Cancun'];
  let serialized = 0;
  const refused = new Map<string, number>();
  for (const c of cases) {
    const { signer, address } = localSigner(c.privateKey);
    for (const variant of variants) {
      const expectedUnsigned = c[`unsigned${variant}`] as Hex | '';
      const expectedSigned = c[`signed${variant}`] as Hex | '';
      const expectedSignature = c[`signature${variant}`] as { r: Hex; s: Hex; v: Hex } | undefined;
      const tx = ethersToViem(c.transaction, variant);
      const typed = variant !== 'Legacy' && variant !== 'Eip155';
      const chainIdZero = typed && !(c.transaction.chainId && BigInt(c.transaction.chainId) !== 0n);
      if (variant === 'Cancun' && !c.transaction.to) {
        // ethers produces no Cancun serialization without `to` (EIP-4844 cannot create); src/eth refuses too.
        assert.equal(expectedSigned, '', `${c.name} ${variant}: ethers signed a to-less blob transaction`);
        await assert.rejects(signTransaction({ transaction: tx, signer, address }), { code: 'MISSING_TO' });
        refused.set('blob transaction without to', (refused.get('blob transaction without to') ?? 0) + 1);
        continue;
      }
      if (variant === 'Eip155' && expectedSigned === '') {
        // ethers has no EIP-155 form for chain id 0: that transaction is the Legacy one, checked above.
        assert.ok(!c.transaction.chainId || BigInt(c.transaction.chainId) === 0n, `${c.name}: missing EIP-155 form`);
        refused.set('no EIP-155 form for chain id 0 (ethers has none)', (refused.get('no EIP-155 form for chain id 0 (ethers has none)') ?? 0) + 1);
        continue;
      }
      const noBlobs = variant === 'Cancun' && !c.transaction.blobVersionedHashes?.length;
      if (chainIdZero || noBlobs) {
        // Typed transactions for chain id 0 are valid on no chain, and a blob transaction needs at
        // least one blob (EIP-4844): viem's serializers and src/eth refuse to sign them. The
        // signature over ethers' unsigned bytes must still match, through the same signing path.
        const reason = chainIdZero ? 'typed transaction with chain id 0' : 'blob transaction without blobs';
        await assert.rejects(signTransaction({ transaction: tx, signer, address }), chainIdZero && noBlobs ? /chain|blob/i : chainIdZero ? /chain/i : /blob/i);
        const sig = await signHash({ digest: keccak256(expectedUnsigned as Hex, 'bytes'), signer, address });
        assert.equal(sig.r, expectedSignature!.r, `${c.name} ${variant} r`);
        assert.equal(sig.s, expectedSignature!.s, `${c.name} ${variant} s`);
        assert.equal(BigInt(sig.yParity), BigInt(expectedSignature!.v), `${c.name} ${variant} yParity`);
        refused.set(reason, (refused.get(reason) ?? 0) + 1);
        continue;
      }
      assert.equal(serializeTransaction(tx), expectedUnsigned, `${c.name} ${variant} unsigned`);
      assert.equal(bytesToHex(hashTransaction(tx)), keccak256(expectedUnsigned as Hex), `${c.name} ${variant} digest`);
      const signed = await signTransaction({ transaction: tx, signer, address });
      assert.equal(signed, expectedSigned, `${c.name} ${variant} signed`);
      serialized++;
    }
  }
  const refusedCount = [...refused.values()].reduce((a, b) => a + b, 0);
  t.diagnostic(
    `unsigned + signed serializations matched: ${serialized}; refused by design (signature still checked unless ethers has none): ${JSON.stringify(Object.fromEntries(refused))}`,
  );
  assert.equal(serialized + refusedCount, cases.length * variants.length);
  assert.ok(serialized > 8_000, `only ${serialized} serializations compared`);
});

const TYPED_VECTORS = 'ethers/testcases/typed-data.json.gz';
test('ethers typed-data.json.gz: EIP-712 digests, and signatures that recover to the signer', {
  skip: !vectorPath(TYPED_VECTORS) && absentMessage(TYPED_VECTORS),
}, async () => {
  const cases = readVectorJson<
    {
      name: string;
      domain: Record<string, unknown>;
      primaryType: string;
      types: Record<string, { name: string; type: string }[]>;
      data: Record<string, unknown>;
      digest: Hex;
    }[]
  >(vectorPath(TYPED_VECTORS)!);
  assert.equal(cases.length, 130);
  const { Wallet, TypedDataEncoder } = await import('ethers');
  const key = ('0x' + '42'.repeat(32)) as Hex;
  const { signer, address } = localSigner(key);
  const wallet = new Wallet(key);
  for (const c of cases) {
    const typedData = { domain: c.domain, types: c.types, primaryType: c.primaryType, message: c.data } as never;
    assert.equal(hashTypedData(typedData), c.digest, `${c.name} digest`);
    const signature = await signTypedData({ typedData, signer, address });
    assert.equal(signature, await wallet.signTypedData(c.domain as never, c.types, c.data), `${c.name}: byte-identical to ethers`);
    const recovered = (await import('ethers')).recoverAddress(c.digest, signature);
    assert.equal(recovered, address, `${c.name} recovers`);
    assert.equal(TypedDataEncoder.hash(c.domain as never, c.types, c.data), c.digest);
  }
});

const ACCOUNT_VECTORS = 'ethers/testcases/accounts.json.gz';
test('ethers accounts.json.gz: addresses (EIP-55) from raw, compressed and DER SPKI public keys', {
  skip: !vectorPath(ACCOUNT_VECTORS) && absentMessage(ACCOUNT_VECTORS),
}, () => {
  const cases = readVectorJson<{ name: string; privateKey: Hex; address: Address }[]>(vectorPath(ACCOUNT_VECTORS)!);
  assert.equal(cases.length, 259);
  for (const c of cases) {
    const sk = hexToBytes(c.privateKey);
    const uncompressed = getPublicKey(sk);
    assert.equal(publicKeyToAddress(uncompressed), c.address, c.name);
    assert.equal(publicKeyToAddress(uncompressed.subarray(1)), c.address, `${c.name} (64 bytes)`);
    assert.equal(publicKeyToAddress(getPublicKey(sk, true)), c.address, `${c.name} (compressed)`);
    assert.equal(publicKeyToAddress(encodeEcSpki('secp256k1', uncompressed)), c.address, `${c.name} (SPKI)`);
  }
});

const TT_DIR = 'ethereum-tests/TransactionTests';
const FORKS: Record<string, 'london' | 'shanghai' | 'cancun' | 'prague'> = {
  London: 'london',
  Paris: 'london',
  Shanghai: 'shanghai',
  Cancun: 'cancun',
  Prague: 'prague',
};
const FORK_ORDER = [
  'Frontier',
  'Homestead',
  'EIP150',
  'EIP158',
  'Byzantium',
  'Constantinople',
  'ConstantinopleFix',
  'Istanbul',
  'Berlin',
  'London',
  'Paris',
  'Shanghai',
  'Cancun',
  'Prague',
];

test('ethereum/tests TransactionTests: valid cases recover their sender, invalid cases are refused', {
  skip: !vectorPath(TT_DIR) && absentMessage(TT_DIR),
}, (t) => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith('.json')) files.push(p);
    }
  };
  walk(vectorPath(TT_DIR)!);
  let valid = 0;
  let invalid = 0;
  let sameCode = 0;
  for (const file of files) {
    const suite = JSON.parse(readFileSync(file, 'utf8')) as Record<
      string,
      { txbytes: Hex; result: Record<string, { sender?: string; hash?: Hex; exception?: string }> }
    >;
    for (const [name, c] of Object.entries(suite)) {
      // The newest fork each case was filled for is the one its result speaks for.
      const forkName = Object.keys(c.result).sort((a, b) => FORK_ORDER.indexOf(b) - FORK_ORDER.indexOf(a))[0]!;
      const fork = FORKS[forkName];
      assert.ok(fork, `${name}: fork ${forkName}`);
      const expected = c.result[forkName]!;
      if (expected.exception === undefined) {
        const parsed = parseSignedTransaction(c.txbytes, { chainId: 1, fork });
        assert.equal(parsed.from.toLowerCase(), `0x${expected.sender!.replace(/^0x/, '')}`.toLowerCase(), `${name}: sender`);
        assert.equal(parsed.hash, expected.hash, `${name}: hash`);
        valid++;
      } else {
        assert.throws(() => parseSignedTransaction(c.txbytes, { chainId: 1, fork }), InvalidTransactionError, `${name}: ${expected.exception} must be refused`);
        try {
          parseSignedTransaction(c.txbytes, { chainId: 1, fork });
        } catch (e) {
          if (expected.exception.replace('TransactionException.', '').startsWith((e as InvalidTransactionError).code)) sameCode++;
        }
        invalid++;
      }
    }
  }
  t.diagnostic(`TransactionTests: ${valid} valid recovered, ${invalid} invalid refused (${sameCode} with the same exception name), ${files.length} files`);
  assert.equal(valid + invalid, 210);
  assert.equal(valid, 50);
});

const EXTRACTED = 'extracted/eth-signing-vectors.json';
test('extracted eth-signing-vectors.json: EIP-155, EIP-712 Mail, EIP-191, EIP-7702 authorization', {
  skip: !vectorPath(EXTRACTED) && absentMessage(EXTRACTED),
}, async () => {
  const { vectors } = readVectorJson<{ vectors: Record<string, any>[] }>(vectorPath(EXTRACTED)!);
  const kinds = new Map<string, number>();
  for (const v of vectors) {
    kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + 1);
    const { signer, address } = localSigner(v.privateKey);
    assert.equal(address.toLowerCase(), v.address.toLowerCase(), `${v.kind}: address`);
    switch (v.kind) {
      case 'eip155-legacy-tx': {
        const tx: TransactionSerializable = {
          type: 'legacy',
          nonce: v.tx.nonce,
          gasPrice: BigInt(v.tx.gasPrice),
          gas: BigInt(v.tx.gasLimit),
          to: v.tx.to,
          value: BigInt(v.tx.value),
          chainId: v.tx.chainId,
        };
        assert.equal(serializeTransaction(tx), v.signingData);
        assert.equal(bytesToHex(hashTransaction(tx)), v.signingHash);
        const signed = await signTransaction({ transaction: tx, signer, address });
        assert.equal(signed, v.signedTx);
        const parsed = parseSignedTransaction(signed, { chainId: 1 });
        assert.equal(parsed.v, BigInt(v.v));
        assert.equal(parsed.from.toLowerCase(), v.address);
        break;
      }
      case 'eip712-typed-data': {
        assert.equal(hashTypedData(v.typedData), v.signHash);
        const sig = await signTypedData({ typedData: v.typedData, signer, address });
        assert.equal(sig, `${v.r}${v.s.slice(2)}${v.v.toString(16)}`);
        break;
      }
      case 'eip191-personal_sign': {
        const sig = await signMessage({ message: { raw: v.messageHex }, signer, address });
        assert.equal(sig, v.signature);
        break;
      }
      case 'eip7702-authorization': {
        const auth = await signAuthorization({ authorization: v.authorization, signer, address });
        const expected = v.signature as Hex;
        assert.equal(auth.r, expected.slice(0, 66));
        assert.equal(auth.s, `0x${expected.slice(66, 130)}`);
        assert.equal(auth.yParity, parseInt(expected.slice(130), 16) - 27);
        assert.equal(keccak256(v.preimage), v.hash);
        break;
      }
      default:
        assert.fail(`unknown vector kind ${v.kind}`);
    }
  }
  assert.deepEqual(Object.fromEntries(kinds), { 'eip155-legacy-tx': 1, 'eip712-typed-data': 1, 'eip191-personal_sign': 3, 'eip7702-authorization': 1 });
});
