/**
 * The shape of one KMS operation: its wire name and a handler that takes the
 * checked input and returns the response structure. Handlers follow one
 * pattern: read fields -> map strings to enums through tables -> resolve the
 * key -> authorize -> check the key supports the operation -> call the
 * keystore -> build the response.
 */
import type { Input } from './input.js';
import type { OperationContext } from './context.js';
import { checkInputShape } from './input-shapes.js';

export interface KmsOperation {
  /** The X-Amz-Target suffix, e.g. `CreateKey`. */
  readonly name: string;
  handle(input: Input, ctx: OperationContext): Promise<Record<string, unknown>>;
}

/**
 * Declares an operation. Its handler runs only on a body that meets the
 * operation's input shape in AWS's service model (src/kms/input-shapes.ts).
 */
export function operation(name: string, handle: KmsOperation['handle']): KmsOperation {
  return {
    name,
    async handle(input, ctx) {
      checkInputShape(name, input.raw);
      return handle(input, ctx);
    },
  };
}

/**
 * Operations that change nothing (reads and cryptography). Every other
 * operation — including any added later and not listed here — changes state,
 * and its audit event is durable before it is acknowledged
 * (src/server/kms-route.ts). Names are X-Amz-Target suffixes of
 * `TrentService.`, `SymbolonApprovals.`, `SymbolonMonitoring.`, `SymbolonRpc.`
 * and `SymbolonSigning.`.
 */
const READ_ONLY_OPERATIONS: ReadonlySet<string> = new Set([
  'Decrypt',
  'DescribeKey',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateMac',
  'GenerateRandom',
  'GetKeyPolicy',
  'GetKeyRotationStatus',
  'GetPublicKey',
  'ListAliases',
  'ListGrants',
  'ListKeyPolicies',
  'ListKeyRotations',
  'ListKeys',
  'ListResourceTags',
  'ListRetirableGrants',
  'ReEncrypt',
  'Sign',
  'Verify',
  'VerifyMac',
  'DeriveSharedSecret',
  // SymbolonApprovals reads.
  'ListPolicyChanges',
  'GetPolicyChange',
  'GetQuorumRule',
  // SymbolonMonitoring reads.
  'ListWebhooks',
  // SymbolonSigning reads (SignPayload signs, as Sign does).
  'GetSigningPolicy',
  'SignPayload',
  'GetSigningRequest',
]);

/** True when `name` may change state (so its audit record must be durable before the answer). */
export function changesState(name: string): boolean {
  return !READ_ONLY_OPERATIONS.has(name);
}
