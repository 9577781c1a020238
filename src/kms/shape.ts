/**
 * The type of one input shape of AWS's KMS service model (botocore's
 * service-2.json), as src/kms/shapes.ts holds them and src/kms/input-shapes.ts
 * checks requests against them.
 */

/** One shape of the service model, as far as input checking needs it. */
export interface Shape {
  type: 'structure' | 'string' | 'blob' | 'integer' | 'long' | 'boolean' | 'list' | 'map' | 'timestamp';
  min?: number;
  max?: number;
  pattern?: string;
  enum?: string[];
  members?: Record<string, string>;
  required?: string[];
  member?: string;
  key?: string;
  value?: string;
}
