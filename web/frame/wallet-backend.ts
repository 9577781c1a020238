/**
 * WalletBackend: the one seam between the frame and a custody mode. The frame
 * knows nothing of envelopes, shares or KMS keys; it hands a backend the
 * user's session and asks it for the address and for signatures over payloads
 * the user has approved. A backend runs the device side of @symbolon/sdk in
 * the frame's origin, so key material (when a mode has any on the device)
 * never leaves it. Envelope mode (./envelope-backend.ts) first; split mode
 * plugs in the same way.
 */
import type { Address, Hex, TransactionSerializable, TypedDataDefinition } from 'viem';
import type { PolicyNote } from './decode.js';

export type CustodyMode = 'envelope' | 'split' | 'kms';

/** The user's login, as the frame's Session exposes it to backends. */
export interface WalletSession {
  /** A valid access token for the wallet API (refreshed when close to expiry). @throws when the session ended. */
  accessToken(): Promise<string>;
  /** A valid ID token for STS and the signer (refreshed when close to expiry). @throws when the session ended. */
  idToken(): Promise<string>;
}

export interface WalletBackend {
  readonly custodyMode: CustodyMode;
  /**
   * Binds the backend to a logged-in user and resolves their one wallet,
   * creating it (on this device) the first time.
   * @throws when the wallet service or the custodian refuses or cannot be reached.
   */
  login(session: WalletSession): Promise<Address>;
  /** The wallet's address. @throws before login. */
  address(): Address;
  /** EIP-191 personal message signature (65 bytes, hex). */
  signMessage(message: { raw: Hex }): Promise<Hex>;
  /** EIP-712 signature (65 bytes, hex). */
  signTypedData(typedData: TypedDataDefinition): Promise<Hex>;
  /** The signed, serialized transaction. */
  signTransaction(transaction: TransactionSerializable): Promise<Hex>;
  /**
   * The owner's signing policy's decision on a request, before approval (split wallets with a policy; docs/frame.md).
   * @returns undefined when the wallet has no policy.
   */
  previewPolicy?(request: PolicyRequest): Promise<PolicyNote | undefined>;
}

/** A request as the policy preview takes it: exactly what would be signed. */
export type PolicyRequest =
  | { type: 'message'; raw: Hex }
  | { type: 'typedData'; typedData: TypedDataDefinition }
  | { type: 'transaction'; transaction: TransactionSerializable };
