/**
 * AWS's default key policy: the account's root principal has every KMS
 * permission on the key, which delegates access decisions to IAM identity
 * policies (AWS KMS Developer Guide, "Default key policy").
 */
export function defaultKeyPolicy(accountId: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  });
}
