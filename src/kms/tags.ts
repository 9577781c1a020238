/**
 * Reads a KMS `Tags` list ([{TagKey, TagValue}]) with AWS's limits and errors.
 */
import { constraintViolation, tagError } from '../aws/errors.js';
import type { Input } from './input.js';

export const MAX_TAGS = 50;

/**
 * @throws {AwsError} ValidationException on lengths, TagException on duplicates, reserved prefixes or too many tags.
 */
export function readTags(input: Input, field = 'Tags'): Array<[string, string]> {
  const list = input.objectList(field) ?? [];
  const out: Array<[string, string]> = [];
  const seen = new Set<string>();
  list.forEach((t, i) => {
    const k = t.string('TagKey', { required: true });
    const v = t.string('TagValue', { required: true });
    if (k.length < 1 || k.length > 128) {
      throw constraintViolation(`tags.${i + 1}.member.tagKey`, null, 'Member must have length less than or equal to 128');
    }
    if (v.length > 256) throw constraintViolation(`tags.${i + 1}.member.tagValue`, null, 'Member must have length less than or equal to 256');
    if (k.toLowerCase().startsWith('aws:')) throw tagError('Tags beginning with aws: are reserved');
    if (seen.has(k)) throw tagError('Duplicate tag keys');
    seen.add(k);
    out.push([k, v]);
  });
  if (out.length > MAX_TAGS) throw tagError('Too many tags');
  return out;
}
