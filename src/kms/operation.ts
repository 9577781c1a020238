/**
 * The shape of one KMS operation: its wire name and a handler that takes the
 * checked input and returns the response structure. Handlers follow one
 * pattern: read fields -> map strings to enums through tables -> resolve the
 * key -> authorize -> check the key supports the operation -> call the
 * keystore -> build the response.
 */
import type { Input } from './input.js';
import type { OperationContext } from './context.js';
import { checkInputShape } from './input-shapes.js';

export interface KmsOperation {
  /** The X-Amz-Target suffix, e.g. `CreateKey`. */
  readonly name: string;
  handle(input: Input, ctx: OperationContext): Promise<Record<string, unknown>>;
}

/**
 * Declares an operation. Its handler runs only on a body that meets the
 * operation's input shape in AWS's service model (src/kms/input-shapes.ts).
 */
export function operation(name: string, handle: KmsOperation['handle']): KmsOperation {
  return {
    name,
    async handle(input, ctx) {
      checkInputShape(name, input.raw);
      return handle(input, ctx);
    },
  };
}
