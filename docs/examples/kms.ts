// The README's TypeScript example: a secp256k1 key and a signature with the
// AWS SDK, as any AWS KMS client does it. Run from the repository root with the
// server running: node --import tsx docs/examples/kms.ts
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KMSClient, CreateKeyCommand, SignCommand } from '@aws-sdk/client-kms';

const endpoint = process.env.SYMBOLON_ENDPOINT ?? 'http://127.0.0.1:8080';
const data = process.env.SYMBOLON_DATA_DIR ?? './data';
const { accessKeyId, secretAccessKey, region } = JSON.parse(readFileSync(`${data}/admin-credentials.json`, 'utf8'));
const kms = new KMSClient({ endpoint, region, credentials: { accessKeyId, secretAccessKey } });
const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
const digest = createHash('sha256').update('hello from Symbolon').digest();
const { Signature } = await kms.send(new SignCommand({ KeyId: KeyMetadata!.KeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
console.log(`key ${KeyMetadata!.KeyId}: signature ${Buffer.from(Signature!).toString('hex')}`);
kms.destroy();
