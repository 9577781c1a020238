/**
 * The key policy of a user's master key lives in @symbolon/sdk
 * (packages/sdk/src/envelope/masterKeyPolicy.ts): the wallet service builds
 * it when it creates the key, and the device rebuilds it to check the key it
 * is given before it encrypts anything under it (verifyMasterKey).
 */
export * from '@symbolon/sdk/master-key-policy';
