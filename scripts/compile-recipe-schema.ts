/** Writes recipes/schema.compiled.cjs from recipes/schema.json (see src/recipe/schema-code.ts). */
import { readFile, writeFile } from 'node:fs/promises';
import { compiledSchemaSource } from '../src/recipe/schema-code.js';
import { compiledSchemaFile, recipeSchemaFile } from '../src/recipe/validate.js';

await writeFile(compiledSchemaFile, compiledSchemaSource(await readFile(recipeSchemaFile, 'utf8')));
process.stdout.write(`wrote ${compiledSchemaFile}\n`);
