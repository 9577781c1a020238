#!/usr/bin/env bash
# docs/identity.md's and docs/wallet-api.md's curl examples as one script: an
# email login at the built-in issuer (reading the code from the development
# mailbox), a token refresh, then the wallet API as that user. With the server
# running (npm start), from the repository root: bash docs/examples/login.sh
# SYMBOLON_ENDPOINT points it at another server. test/first-run.test.ts runs it.
set -euo pipefail
ENDPOINT=${SYMBOLON_ENDPOINT:-http://127.0.0.1:8080}
json() { node -p "JSON.parse(require('fs').readFileSync(0, 'utf8'))$1"; }   # prints one field of the JSON on stdin

curl -s "$ENDPOINT/oidc/email/start" -H 'content-type: application/json' -d '{"email":"alice@example.com"}'
echo
CODE=$(curl -s "$ENDPOINT/oidc/dev/mailbox?email=alice@example.com" | json '.messages[0].code')   # development: read the code
TOKENS=$(curl -s "$ENDPOINT/oidc/email/verify" -H 'content-type: application/json' -d "{\"email\":\"alice@example.com\",\"code\":\"$CODE\"}")
REFRESH=$(echo "$TOKENS" | json '.refresh_token')
TOKENS=$(curl -s "$ENDPOINT/oidc/token" -d grant_type=refresh_token -d refresh_token="$REFRESH")
TOKEN=$(echo "$TOKENS" | json '.access_token')   # an access token for the wallet API

curl -s "$ENDPOINT/v1/me" -H "authorization: Bearer $TOKEN"
echo
curl -s "$ENDPOINT/v1/wallets/me" -H "authorization: Bearer $TOKEN"
echo
