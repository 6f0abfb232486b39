/** Prints probeExec(argv[2]) as JSON: run inside a private mount namespace by doctor.test.ts. */
import { execCheck, probeExec } from '../../../src/doctor/doctor.js';

const dir = process.argv[2]!;
const probe = await probeExec(dir);
process.stdout.write(`${JSON.stringify({ probe, check: execCheck(dir, probe) })}\n`);
