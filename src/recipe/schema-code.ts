/**
 * Compiles recipes/schema.json into a standalone validator, recipes/schema.compiled.cjs, so that loading recipes costs
 * no schema compilation (ajv compiling this schema takes 200-400 ms; the compiled module loads in ~10 ms). Run
 * `npm run recipes:schema` after editing schema.json; test/unit/recipes.test.ts fails while the two differ.
 * Only that script and the tests import this module: the tool itself loads the compiled file (validate.ts).
 */
import { Ajv } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';

export const compiledSchemaHeader =
  '// Generated from schema.json by `npm run recipes:schema` (src/recipe/schema-code.ts): do not edit; edit schema.json.\n';

/** The ajv instance the schema is compiled with; errorMessage is an annotation (validate.ts and editors show it). */
export function recipeAjv(): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    verbose: true,
    strict: true,
    strictRequired: false,
    allowUnionTypes: true,
    inlineRefs: false,
    code: { source: true },
  });
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
  return ajv;
}

/** The source of recipes/schema.compiled.cjs for the schema text of recipes/schema.json. */
export function compiledSchemaSource(schemaText: string): string {
  const ajv = recipeAjv();
  const validate = ajv.compile(JSON.parse(schemaText) as object);
  return `${compiledSchemaHeader}${standalone.default(ajv, validate)}\n`;
}
