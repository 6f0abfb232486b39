import { resolve } from 'node:path';
import { ExitCode, NotBuiltError, UsageError } from '../../errors.js';
import { inspectPrefix } from '../../install/prefix.js';
import { lockPrefix } from '../../install/prefix-lock.js';
import { detectPython } from '../../python/detect.js';
import { RegistryClient } from '../../registry/client.js';
import { formatReference, parseReference } from '../../registry/reference.js';
import { pythonIdentity } from '../../store/keys.js';
import { pushStack } from '../../store/remote.js';
import { Store, type StoredLayer, storeRoot } from '../../store/store.js';
import { formatBytes } from '../../util/format.js';
import { defaultPrefix, type ParsedFlags } from '../args.js';

/** `wsgi-toolchain push --prefix P HOST[:PORT]/REPOSITORY[:TAG] [--insecure-registry] [--json]` */
export async function pushCommand(values: ParsedFlags, target: string | undefined): Promise<number> {
  const prefixArg = values.prefix ?? defaultPrefix(process.env);
  if (!prefixArg) throw new UsageError('no --prefix given', 'pass --prefix DIR of a wsgi-toolchain build');
  if (!target) throw new UsageError('push needs a registry reference', 'wsgi-toolchain push --prefix DIR HOST[:PORT]/REPOSITORY[:TAG]');
  const ref = parseReference(target);
  const prefix = resolve(prefixArg);
  const store = new Store(await storeRoot({ cacheDir: values['cache-dir'], env: process.env }));
  // No build, no lock: a prefix without one gets nothing written.
  if (!(await inspectPrefix(prefix)).liveStackId) throw new NotBuiltError(prefix);
  const release = await lockPrefix(prefix, { what: `push of ${prefix}` });
  try {
    const state = await inspectPrefix(prefix);
    const manifest = state.liveManifest;
    if (!manifest || !Array.isArray(manifest.layers)) throw new NotBuiltError(prefix);
    const layers: StoredLayer[] = [];
    for (const l of manifest.layers) {
      const stored = await store.layer(l.key);
      if (!stored)
        throw new UsageError(
          `the store ${store.root} no longer has layer ${l.component} ${l.version} (${l.key.slice(0, 12)}) of ${prefix}`,
          `restore it by building again (wsgi-toolchain build --prefix ${prefix} --force), then push`,
        );
      layers.push(stored);
    }
    const python = await detectPython({ python: manifest.lock.python.executable, env: process.env }).catch(() => undefined);
    const client = new RegistryClient(ref, { env: process.env, insecure: values['insecure-registry'] ?? false });
    const tag = ref.tag ?? 'latest';
    const pushed = await pushStack(
      client,
      store,
      { key: manifest.key, lock: manifest.lock, layers, python: python ? pythonIdentity(python) : undefined },
      tag,
    );
    if (values.json) process.stdout.write(`${JSON.stringify({ reference: formatReference({ ...ref, tag }), ...pushed }, null, 2)}\n`);
    else {
      const uploaded = pushed.layers.filter((l) => l.outcome !== 'exists');
      process.stdout.write(`pushed stack ${manifest.key.slice(0, 16)} to ${formatReference({ ...ref, tag })} (${pushed.digest})\n`);
      for (const l of pushed.layers)
        process.stdout.write(
          `  ${l.component.padEnd(9)} ${l.key.slice(0, 12)}  ${l.digest.slice(0, 19)}  ${formatBytes(l.size).padStart(9)}  ${l.outcome === 'exists' ? 'already there' : 'uploaded'}\n`,
        );
      process.stdout.write(
        `${uploaded.length} of ${pushed.layers.length} layers uploaded (${formatBytes(uploaded.reduce((s, l) => s + l.size, 0))})\n`,
      );
    }
    return ExitCode.ok;
  } finally {
    await release();
  }
}
