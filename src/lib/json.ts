/**
 * The strings of a JSON array stored as text in a column (a key's models, an audit event's
 * changed fields, a webhook's events); undefined when the text is not JSON or not an array.
 * Elements that are not strings are left out. Stored data is read, never trusted to parse.
 */
export function jsonStrings(text: string): string[] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}
