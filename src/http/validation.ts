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
