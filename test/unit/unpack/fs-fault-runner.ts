/**
 * Run by unpack.test.ts inside a private mount namespace (test/helpers/private-mount.ts): unpacks argv[2] into argv[3]
 * and prints the outcome, and what is left beside the destination, as one line of JSON.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { unpackArchive } from '../../../src/unpack/unpack.js';

const [archive, dest] = process.argv.slice(2) as [string, string];
const left = () => (existsSync(dirname(dest)) ? readdirSync(dirname(dest)) : []);
try {
  await unpackArchive(archive, dest);
  console.log(JSON.stringify({ ok: true, left: left() }));
} catch (error) {
  const e = error as Error & { exitCode?: number; code?: string; hint?: string };
  console.log(JSON.stringify({ ok: false, name: e.name, exitCode: e.exitCode, code: e.code, message: e.message, hint: e.hint, left: left() }));
}
