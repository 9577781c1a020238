/**
 * A signing decision's audit fields (docs/audit.md, issue #16 section 3): the
 * decoded facts of the payload — chain, to, value, selector, ERC-20 recipient
 * and amount — with the decision and its deciding statement. Decimal amounts,
 * lowercase addresses; never a message, typed data or digest. Made by the
 * custodian for KMS signing (src/kms/sign-payload.ts) and by the split signer
 * for the share-A release it asks for (src/signer/signWithSplitKey.ts). Pure.
 */
import type { SignPayload } from '../eth/payload.js';
import type { PayloadFacts } from './payloadFacts.js';

/** A decoded Ethereum signing decision; amounts are decimal strings (wei / token units), addresses lowercase 0x. */
export interface DecisionAuditFields {
  payloadType: 'transaction' | 'message' | 'typedData' | 'authorization';
  chainId?: string; // decimal
  to?: string | null; // null: contract creation
  value?: string; // decimal wei
  selector?: string; // 0x + 8 hex
  erc20Recipient?: string;
  erc20Amount?: string; // decimal
  decision: 'allow' | 'deny' | 'pending';
  statement?: string; // the deciding statement's Sid, when a statement decided
}

function text(facts: PayloadFacts, key: string): string | undefined {
  return facts.get(key)?.text[0];
}

/** The audit fields of a decision on `payload` whose facts are `facts`. */
export function decisionAuditFields(
  payload: SignPayload,
  facts: PayloadFacts,
  decision: DecisionAuditFields['decision'],
  statement: string | undefined,
): DecisionAuditFields {
  const out: DecisionAuditFields = { payloadType: payload.type, decision };
  const chainId = text(facts, 'eth:chainid');
  if (chainId !== undefined) out.chainId = chainId;
  if (payload.type === 'transaction') out.to = text(facts, 'eth:to') ?? null;
  const value = text(facts, 'eth:value');
  if (value !== undefined) out.value = value;
  const selector = text(facts, 'eth:functionselector');
  if (selector !== undefined) out.selector = selector;
  const recipient = text(facts, 'eth:erc20recipient');
  if (recipient !== undefined) out.erc20Recipient = recipient;
  const amount = text(facts, 'eth:erc20amount');
  if (amount !== undefined) out.erc20Amount = amount;
  if (statement !== undefined) out.statement = statement;
  return out;
}
