/**
 * processAlive decides whether a lock's holder is gone (src/install/prefix-lock.ts) and whether a store temp dir is
 * stale: a zombie (exited, not yet reaped by its parent) holds nothing.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '../../src/util/process.js';

const state = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
};

test('a running process is alive; its exited, unreaped child (a zombie) is not; a reaped one is not', async (t) => {
  // sh starts a short sleep, prints its pid, then becomes a long sleep, which never reaps the short one.
  const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => parent.kill('SIGKILL'));
  const childPid = Number((await new Promise<Buffer>((resolve) => parent.stdout.once('data', resolve))).toString().trim());
  const deadline = Date.now() + 10_000;
  while (state(childPid) !== 'Z') {
    if (Date.now() > deadline) t.fail('the child never became a zombie');
    await sleep(20);
  }
  t.true(processAlive(parent.pid!), 'the parent runs');
  t.false(processAlive(childPid), 'the zombie counts as gone');
  parent.kill('SIGKILL');
  await new Promise((resolve) => parent.once('exit', resolve));
  t.false(processAlive(parent.pid!), 'a reaped process is gone');
  t.true(processAlive(process.pid));
});
