/**
 * The build's job slots (src/pipeline/jobserver.ts): a step that has to wait for one says so (the build line then reads
 * "configure (waiting for a free job slot of 2)" instead of a configure that seems to run for minutes).
 */
import test from 'ava';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobServer } from '../../src/pipeline/jobserver.js';
import { runBuildCommand } from '../../src/pipeline/run-step.js';
import { removeTempDirs, tempDir } from '../helpers/temp.js';

test.after.always(removeTempDirs);

test('a step waits for a free slot, says so once, and says when it has one', async (t) => {
  const dir = await tempDir('jobserver-');
  const jobs = await JobServer.create(dir, 1);
  t.teardown(() => jobs.close());
  const log = createWriteStream(join(dir, 'build.log'));
  t.teardown(() => log.end());
  const said: boolean[] = [];
  const context = { log, logFile: join(dir, 'build.log'), env: process.env, signal: new AbortController().signal, jobs };

  await runBuildCommand('free', ['true'], dir, {}, { ...context, onSlotWait: (w) => said.push(w) });
  t.deepEqual(said, [], 'a free slot: nothing to say');

  await jobs.acquire(); // another step holds the only slot
  const step = runBuildCommand('queued', ['true'], dir, {}, { ...context, onSlotWait: (w) => said.push(w) });
  await sleep(100);
  t.deepEqual(said, [true], 'waiting, said once');
  jobs.release();
  await step;
  t.deepEqual(said, [true, false]);
});
