/**
 * Request validation. Bodies are validated strictly (no type coercion, unknown fields
 * refused) so a client learns about a typo instead of having it dropped; querystrings
 * and path parameters are strings on the wire and are coerced to the declared type.
 */
import AjvModule from 'ajv';
import addFormatsModule from 'ajv-formats';


const Ajv = AjvModule.default ?? AjvModule;
const addFormats = addFormatsModule.default ?? addFormatsModule;

function makeAjv(coerce: boolean) {
  const ajv = new Ajv({
    allErrors: false,
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    strict: false,
    allowUnionTypes: true,
    // Errors carry their schema, so "unknown field" can list the accepted fields
    // instead of echoing the submitted name (which may be a pasted secret).
    verbose: true,
  });
  addFormats(ajv);
  return ajv;
}

/**
 * Fastify's validator factory (`schemaController.compilersFactory.buildValidator`). Fastify
 * calls it for every encapsulation context with that context's shared schemas (those
 * added with `addSchema`), so every route plugin gets the same strict validation without
 * having to set it up itself.
 */
type Compile = (route: { schema: unknown; httpPart?: string }) => ReturnType<InstanceType<typeof Ajv>['compile']>;

export function buildStrictValidator(externalSchemas: unknown): Compile {
  const bodyAjv = makeAjv(false);
  const paramAjv = makeAjv(true);
  const shared = Object.values((externalSchemas ?? {}) as Record<string, { $id?: string }>);
  for (const schema of shared) {
    if (schema?.$id && !bodyAjv.getSchema(schema.$id)) {
      bodyAjv.addSchema(schema);
      paramAjv.addSchema(schema);
    }
  }
  return ({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : paramAjv).compile(schema as object);
}

/** One validator error, as Ajv reports it with `verbose: true`. */
interface AjvError {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
  schema?: unknown;
  parentSchema?: { properties?: Record<string, unknown>; [k: string]: unknown };
}

/**
 * Schema keyword with the plain-words complaint for a value that fails a `pattern`
 * (e.g. "is not a valid email address"): a regular expression says nothing to a person.
 */
export const INVALID_TEXT = 'x-invalid';

const FORMAT_WORDS: Record<string, string> = {
  uuid: 'a UUID',
  email: 'an email address',
  uri: 'a URL',
  url: 'a URL',
  'date-time': 'a date and time (RFC 3339)',
  date: 'a date (YYYY-MM-DD)',
  hostname: 'a host name',
};

const TYPE_WORDS: Record<string, string> = {
  string: 'text',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  object: 'a JSON object',
  array: 'a list',
  null: 'null',
};

/** "body" + "/credentials/region" → "credentials.region"; the part alone when there is no path. */
function fieldName(part: string, instancePath: string): string {
  const path = instancePath
    .split('/')
    .filter(Boolean)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
  if (part === 'querystring') return path ? `the query parameter ${path}` : 'the query string';
  if (part === 'params') return path ? `the path parameter ${path}` : 'the path';
  if (part === 'headers') return path ? `the header ${path}` : 'the headers';
  return path || 'the body';
}

/**
 * A validation failure in plain words: the field and what it must be ("role must be one
 * of: admin, member, viewer"), never the validator's wording ("body/role must be equal
 * to constant"). A submitted value or unknown field name is never echoed (it may be a
 * pasted secret).
 */
export function describeValidationError(errors: readonly AjvError[], part = 'body'): string {
  const first = errors[0] ?? {};
  const p = first.params ?? {};
  const where = (path = first.instancePath ?? '') => fieldName(part, path);
  switch (first.keyword) {
    case 'required':
      return `${where(`${first.instancePath ?? ''}/${String(p.missingProperty)}`)} is required`;
    case 'additionalProperties': {
      const accepted = Object.keys(first.parentSchema?.properties ?? {});
      return `${where()} has a field that this operation does not accept${accepted.length ? `; accepted fields: ${accepted.join(', ')}` : ''}`;
    }
    case 'enum':
      return `${where()} must be one of: ${(p.allowedValues as unknown[]).join(', ')}`;
    case 'const':
    case 'anyOf':
    case 'oneOf': {
      // A union of literals fails with one `const` error per literal, then the union's own.
      const path = first.instancePath ?? '';
      const allowed = errors.filter((e) => e.keyword === 'const' && (e.instancePath ?? '') === path).map((e) => e.params?.allowedValue);
      if (allowed.length) return `${where()} must be ${allowed.length === 1 ? JSON.stringify(allowed[0]) : `one of: ${allowed.join(', ')}`}`;
      return `${where()} is not one of the accepted values`;
    }
    case 'type': {
      const types = String(p.type).split(',');
      return `${where()} must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}`;
    }
    case 'minLength':
      return Number(p.limit) <= 1 ? `${where()} must not be empty` : `${where()} must be at least ${String(p.limit)} characters long`;
    case 'maxLength':
      return `${where()} must be at most ${String(p.limit)} characters long`;
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
    case 'exclusiveMaximum': {
      const words = { minimum: 'at least', exclusiveMinimum: 'more than', maximum: 'at most', exclusiveMaximum: 'less than' }[first.keyword];
      return `${where()} must be ${words} ${String(p.limit)}`;
    }
    case 'minItems':
      return `${where()} must have at least ${String(p.limit)} item${Number(p.limit) === 1 ? '' : 's'}`;
    case 'maxItems':
      return `${where()} must have at most ${String(p.limit)} item${Number(p.limit) === 1 ? '' : 's'}`;
    case 'format':
      return `${where()} must be ${FORMAT_WORDS[String(p.format)] ?? `a valid ${String(p.format)}`}`;
    case 'pattern': {
      const text = first.parentSchema?.[INVALID_TEXT];
      return `${where()} ${typeof text === 'string' ? text : 'is not in the expected format'}`;
    }
    default:
      return `${where()} is invalid`;
  }
}
