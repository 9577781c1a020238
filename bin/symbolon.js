#!/usr/bin/env node
// Entry point for `npx symbolon …`: registers the TypeScript loader, then runs the CLI.
// The loader reads the repository's tsconfig.json from any working directory (its
// `paths` map @symbolon/sdk to the SDK's sources); workers and child processes inherit it.
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';
process.env.TSX_TSCONFIG_PATH ??= fileURLToPath(new URL('../tsconfig.json', import.meta.url));
register({ tsconfig: process.env.TSX_TSCONFIG_PATH });
await import('../src/cli/main.ts');
