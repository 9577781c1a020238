#!/usr/bin/env bash
# The README's quick start and docs/access-control.md's `symbolon admin`
# example as one script, in order. Start the server first, in another
# terminal, from the repository root:
#
#   npm install && npm start
#
# then run this from the repository root:
#
#   bash docs/examples/quickstart.sh
#
# It uses the administrator credential the server wrote on first start.
# SYMBOLON_ENDPOINT (default http://127.0.0.1:8080) and SYMBOLON_DATA_DIR
# (default ./data) point it at another server. Safe to run again.
# test/first-run.test.ts runs it against a real server, and checks that every
# line of those documents' examples is a line of this script.
set -euo pipefail

# 1. Where the server is, and its administrator credential.
ENDPOINT=${SYMBOLON_ENDPOINT:-http://127.0.0.1:8080}   # the server
DATA=${SYMBOLON_DATA_DIR:-./data}                      # its data directory
export AWS_ACCESS_KEY_ID=$(node -p "require('$DATA/admin-credentials.json').accessKeyId")
export AWS_SECRET_ACCESS_KEY=$(node -p "require('$DATA/admin-credentials.json').secretAccessKey")
export AWS_DEFAULT_REGION=$(node -p "require('$DATA/admin-credentials.json').region")
ACCOUNT=$(node -p "require('$DATA/admin-credentials.json').accountId")   # the 12-digit account id

# 2. A secp256k1 key with the AWS CLI (any AWS SDK works the same way).
if command -v aws >/dev/null 2>&1; then
  export AWS_PAGER=""
  KEY=$(aws kms create-key --endpoint-url "$ENDPOINT" --key-spec ECC_SECG_P256K1 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId --output text)
  aws kms get-public-key --endpoint-url "$ENDPOINT" --key-id "$KEY"
  aws kms sign --endpoint-url "$ENDPOINT" --key-id "$KEY" --message-type DIGEST --signing-algorithm ECDSA_SHA_256 --message fileb://<(printf '%032d' 0)
else
  echo "aws (the AWS CLI) is not installed: skipping its lines (apt-get install awscli)"
fi

# 3. An Ethereum wallet with the symbolon CLI (a KMS key; the CLI computes its address).
symbolon() { node bin/symbolon.js "$@"; }   # this clone's CLI, run from the repository root
export SYMBOLON_ENDPOINT=$ENDPOINT
symbolon wallet address --key alias/treasury 2>/dev/null || symbolon wallet create --alias treasury
symbolon wallet list
symbolon wallet sign-message --key alias/treasury --message "hello from Symbolon"
symbolon wallet sign-tx --key alias/treasury --tx '{"chainId": 31337, "nonce": 0, "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "value": "1000000000000000", "gasLimit": 21000, "maxFeePerGas": "2000000000", "maxPriorityFeePerGas": "1000000000"}'

# 4. A user who may only sign: the policy of docs/access-control.md (docs/examples/seed3.json).
symbolon admin list-access-keys --name withdrawals >/dev/null 2>&1 || symbolon admin create-user --name withdrawals --tag Environment=production --no-access-key
symbolon admin put-user-policy --name withdrawals --policy-file docs/examples/seed3.json
symbolon admin get-user-policy --name withdrawals

# 5. A quorum: later changes to alias/treasury's key policy wait for 2 of 3
#    approvers. They are IAM users with access keys of their own (kept in
#    $DATA/approvers/NAME.json, mode 0600) to approve with.
mkdir -p -m 700 "$DATA/approvers"
for name in alice bob carol; do
  [ -s "$DATA/approvers/$name.json" ] || (umask 077 && symbolon admin create-user --name "$name" --json > "$DATA/approvers/$name.json")
done
if symbolon admin approvals get-rule --key alias/treasury | grep -q 'no quorum rule'; then
  symbolon admin approvals set-rule --key alias/treasury --threshold 2 \
    --approver "arn:aws:iam::$ACCOUNT:user/alice" --approver "arn:aws:iam::$ACCOUNT:user/bob" --approver "arn:aws:iam::$ACCOUNT:user/carol"
fi
symbolon admin approvals get-rule --key alias/treasury
symbolon admin approvals list --status PENDING

# 6. A key policy change under that quorum: proposed (it waits), reviewed,
#    approved by alice and bob with their own access keys, then in force.
if command -v aws >/dev/null 2>&1; then
  # GetKeyPolicy and PutKeyPolicy take a key id or ARN, not an alias (as AWS KMS).
  TREASURY=$(aws kms describe-key --endpoint-url "$ENDPOINT" --key-id alias/treasury --query KeyMetadata.KeyId --output text)
  aws kms get-key-policy --endpoint-url "$ENDPOINT" --key-id "$TREASURY" --policy-name default --query Policy --output text > "$DATA/treasury-policy.json"
  aws kms put-key-policy --endpoint-url "$ENDPOINT" --key-id "$TREASURY" --policy-name default --policy "file://$DATA/treasury-policy.json" 2> "$DATA/proposal.txt" || grep 'pending approval' "$DATA/proposal.txt"
  CHANGE=$(symbolon admin approvals list --key alias/treasury --status PENDING --json | node -p "JSON.parse(require('fs').readFileSync(0, 'utf8')).Changes[0].ChangeId")
  SHA256=$(symbolon admin approvals show --id "$CHANGE" --json | node -p "JSON.parse(require('fs').readFileSync(0, 'utf8')).Change.PayloadSha256")
  symbolon admin approvals show --id "$CHANGE"   # the exact policy text to review, and its SHA-256
  for name in alice bob; do
    AWS_ACCESS_KEY_ID=$(node -p "require('$DATA/approvers/$name.json').AccessKey.AccessKeyId") \
    AWS_SECRET_ACCESS_KEY=$(node -p "require('$DATA/approvers/$name.json').AccessKey.SecretAccessKey") \
      symbolon admin approvals approve --id "$CHANGE" --sha256 "$SHA256"
  done
fi
