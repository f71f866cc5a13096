/**
 * Request validation. Bodies are validated strictly (no type coercion, unknown fields
 * refused) so a client learns about a typo instead of having it dropped; querystrings
 * and path parameters are strings on the wire and are coerced to the declared type.
 */
import AjvModule from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

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
  });
  addFormats(ajv);
  return ajv;
}

const bodyAjv = makeAjv(false);
const paramAjv = makeAjv(true);

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : paramAjv;
  return ajv.compile(schema as object);
};

/** Registers a shared schema (by $id) with both validators. */
export function addSharedSchema(schema: { $id: string }): void {
  if (!bodyAjv.getSchema(schema.$id)) bodyAjv.addSchema(schema);
  if (!paramAjv.getSchema(schema.$id)) paramAjv.addSchema(schema);
}
