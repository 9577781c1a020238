/** The parts of a KMS request bench/lib/kms-server.ts can switch off, one at a time (benchmarks only). */
export const COMPONENTS = ['sigv4', 'policy', 'audit', 'metrics'] as const;
export type Component = (typeof COMPONENTS)[number];
