/**
 * The fields a proposed change shows the same way in both quorum stores' views
 * (quorum.ts `changeView` for per-key changes, account-quorum.ts
 * `accountChangeView` for account changes): who proposed it, the rule it was
 * proposed under, the votes so far and its dates (seconds, as AWS's APIs give
 * dates).
 */
import type { Vote } from '../../storage/change-votes.js';

interface ProposedChange {
  status: string;
  payloadSha256: string;
  proposerArn: string;
  threshold: number;
  approvers: string[];
  createdAt: number;
  expiresAt: number;
  decidedAt: number | null;
}

export function proposedChangeFields(c: ProposedChange, votes: Vote[]): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    Status: c.status,
    PayloadSha256: c.payloadSha256,
    ProposerArn: c.proposerArn,
    Threshold: c.threshold,
    Approvers: c.approvers,
    Approvals: votes.filter((v) => v.vote === 'APPROVE').map((v) => v.approverArn),
    Rejections: votes.filter((v) => v.vote === 'REJECT').map((v) => v.approverArn),
    CreationDate: c.createdAt / 1000,
    ExpirationDate: c.expiresAt / 1000,
  };
  if (c.decidedAt !== null) fields.DecisionDate = c.decidedAt / 1000;
  return fields;
}
