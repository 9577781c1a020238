/**
 * Signs a decoded Ethereum payload (src/eth/payload.ts) with a KMS key, for
 * the front ends that see what they sign (the JSON-RPC signer, docs/rpc.md):
 * authorizes exactly as KMS `Sign` of the key's digest would — identity and
 * key policies, tags, grants — with the condition keys
 * kms:SigningAlgorithm=ECDSA_SHA_256, kms:MessageType=DIGEST and
 * kms:ViaService=`${via}.symbolon`, then signs with the keystore through
 * src/eth's signers. The payload never reaches an error, a log or the audit log.
 */
import { parseSignature, parseTransaction, type Address, type Hex } from 'viem';
import type { SignPayload } from '../eth/payload.js';
import type { DigestSigner, RecoverableSignature } from '../eth/types.js';
import { signPreparedTransaction, signTransaction } from '../eth/signTransaction.js';
import { signMessage } from '../eth/signMessage.js';
import { signTypedData } from '../eth/signTypedData.js';
import { signAuthorization } from '../eth/signAuthorization.js';
import { publicKeyToAddress } from '../eth/publicKeyToAddress.js';
import { internal, invalidKeyUsage } from '../aws/errors.js';
import { authorize, loadMaterial, requireUsable, resolveKey } from './keys.js';
import { signDigest } from './keystore.js';
import { keyArn } from './model.js';
import type { OperationContext } from './context.js';

/** Which front end asked: the value of the `kms:ViaService` condition key is `${via}.symbolon` (e.g. rpc.symbolon). */
export type SignVia = 'rpc' | 'api';

export interface SignPayloadRequest {
  /** Key id, ARN, alias name or alias ARN — resolved like KMS Sign's KeyId. */
  keyId: string;
  /** From src/eth/payload.ts (parsePayload). */
  payload: SignPayload;
  via: SignVia;
}

export interface SignPayloadResult {
  keyArn: string;
  /** The key's Ethereum address. */
  address: Address;
  signature: RecoverableSignature;
  /**
   * transaction: the signed serialized transaction (eth_signTransaction's result);
   * message / typedData: the 65-byte r||s||v signature as 0x-hex (v = 27/28);
   * authorization: 0x-hex r||s||yParity (65 bytes).
   */
  signed: Hex;
}

/** Key addresses by `keyId:version` (a version's public key never changes). */
const addresses = new Map<string, Address>();

function recoverable(r: Hex, s: Hex, yParity: number): RecoverableSignature {
  return { r, s, yParity: yParity === 1 ? 1 : 0 };
}

/**
 * Authorizes as KMS `Sign` of this key would for ctx's caller, then signs the
 * payload with the key. Fills ctx.audit (keyArn, signingAlgorithm, messageType).
 * @throws {AwsError} AccessDeniedException, NotFoundException, DisabledException,
 *   KMSInvalidStateException, InvalidKeyUsageException (not a secp256k1 signing key).
 */
export async function signEthPayload(ctx: OperationContext, request: SignPayloadRequest): Promise<SignPayloadResult> {
  ctx.audit.signingAlgorithm = 'ECDSA_SHA_256';
  ctx.audit.messageType = 'DIGEST';
  const key = await resolveKey(ctx, request.keyId);
  await authorize(ctx, 'kms:Sign', key, {
    'kms:SigningAlgorithm': 'ECDSA_SHA_256',
    'kms:MessageType': 'DIGEST',
    'kms:ViaService': `${request.via}.symbolon`,
  });
  requireUsable(key, 'SIGN_VERIFY', 'Sign');
  if (key.keySpec !== 'ECC_SECG_P256K1') throw invalidKeyUsage(`${keyArn(key)} key spec ${key.keySpec} cannot sign Ethereum payloads.`);
  const material = await loadMaterial(ctx, key);
  if (!material.publicKey) throw internal('The key material for this request is unavailable.');
  const cacheKey = `${key.keyId}:${material.version}`;
  let address = addresses.get(cacheKey);
  if (!address) {
    address = publicKeyToAddress(material.publicKey);
    if (addresses.size >= 10_000) addresses.clear();
    addresses.set(cacheKey, address);
  }
  const signer: DigestSigner = async (digest) => {
    const { der, recoveryId } = signDigest(ctx.deps.root, key.keySpec, key.keyId, material.version, material.sealed, digest);
    return { signature: der, recovery: recoveryId };
  };
  const { payload } = request;
  let signed: Hex;
  let signature: RecoverableSignature;
  switch (payload.type) {
    case 'transaction': {
      signed = payload.prepared
        ? await signPreparedTransaction({ prepared: payload.prepared, signer, address })
        : await signTransaction({ transaction: payload.transaction, signer, address });
      const tx = parseTransaction(signed);
      signature = recoverable(tx.r!, tx.s!, tx.yParity ?? (tx.v === undefined ? 0 : Number(tx.v % 2n === 0n ? 1n : 0n)));
      break;
    }
    case 'message':
    case 'typedData': {
      signed =
        payload.type === 'message'
          ? await signMessage({ message: payload.message, signer, address })
          : await signTypedData({ typedData: payload.typedData, signer, address });
      const sig = parseSignature(signed);
      signature = recoverable(sig.r, sig.s, sig.yParity ?? 0);
      break;
    }
    case 'authorization': {
      const a = await signAuthorization({ authorization: payload.authorization, signer, address });
      signature = recoverable(a.r, a.s, a.yParity ?? 0);
      signed = `${a.r}${a.s.slice(2)}${a.yParity === 1 ? '01' : '00'}` as Hex;
      break;
    }
  }
  return { keyArn: keyArn(key), address, signature, signed };
}
