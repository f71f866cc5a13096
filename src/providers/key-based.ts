/** The local shape check shared by the six key-based providers (an opaque API key, no location). */
import { invalid } from '../errors/index.ts';
import { keyHint } from './hint.ts';
import type { PreparedCredential } from './types.ts';

/**
 * Trims surrounding whitespace (keys are often pasted with a newline) and refuses keys
 * that could not travel in an HTTP header: inner spaces, line breaks, control or
 * non-ASCII characters. The location is ignored and stored as null (CONTRACT.md).
 */
export function prepareApiKey(input: { apiKey: string }): PreparedCredential {
  const key = input.apiKey.trim();
  if (key.length === 0) throw invalid('api_key must not be empty');
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw invalid('api_key must be a single token of printable ASCII characters (no spaces, line breaks or other characters)');
  }
  return { apiKey: key, location: null, keyHint: keyHint(key) };
}
