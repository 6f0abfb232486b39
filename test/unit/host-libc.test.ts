import test from 'ava';
import { hostGlibc, hostLibc } from '../../src/store/keys.js';

test("the libc family read from node's program interpreter agrees with what the diagnostic report says", (t) => {
  const report = hostGlibc() ? 'glibc' : process.platform === 'linux' ? 'musl' : 'none';
  t.is(hostLibc(), report);
  if (process.platform === 'linux') t.regex(hostGlibc() ?? 'musl', /^\d+\.\d+$|^musl$/);
});
