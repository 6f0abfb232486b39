import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeFixtureSet, type FixtureOptions, type FixtureSet } from './fixtures.js';
import { startLoopbackServer, type LoopbackServer } from './loopback-server.js';

export interface FixtureWorld {
  /** A fresh temp dir, readable by Apache's unprivileged children; removed by closeFixtureWorld. */
  work: string;
  server: LoopbackServer;
  /** The fixture set, served by `server` in the mirror layout. */
  fixtures: FixtureSet;
}

/** What most fixture-build test files start with: a work dir, a loopback server, and the fixture set it serves. */
export async function openFixtureWorld(name: string, options: Omit<FixtureOptions, 'baseUrl'> = {}): Promise<FixtureWorld> {
  const work = await mkdtemp(join(tmpdir(), `wsgi-${name}-`));
  await chmod(work, 0o755);
  // makeFixtureSet(dir) writes its tarballs to <dir>/sources in the mirror layout: serve that.
  const server = await startLoopbackServer({ root: join(work, 'serve', 'sources'), lifetimeMs: 10 * 60_000 });
  const fixtures = await makeFixtureSet(join(work, 'serve'), { ...options, baseUrl: server.url });
  return { work, server, fixtures };
}

export async function closeFixtureWorld(world: FixtureWorld | undefined): Promise<void> {
  await world?.server.close();
  if (world) await rm(world.work, { recursive: true, force: true });
}
