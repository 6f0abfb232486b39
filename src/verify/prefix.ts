import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { inspectPrefix } from '../install/prefix.js';
import { detectPython } from '../python/detect.js';
import { layoutFromApxs, layoutFromRoot } from './apache-layout.js';
import { verifyServer, type VerifyResult } from './verify.js';

/**
 * `wsgi-toolchain verify`: the installed stack of a prefix (its httpd, its mod_wsgi, the Python it was built for), or a
 * system Apache found through its apxs with the mod_wsgi.so in its modules directory.
 */
export async function verifyPrefix(opts: { prefix?: string; apxs?: string; python?: string }): Promise<VerifyResult> {
  if (opts.apxs) {
    const layout = await layoutFromApxs(opts.apxs);
    const python = await detectPython({ python: opts.python, prefix: opts.prefix });
    return verifyServer({ layout, modWsgi: join(layout.modulesDir, 'mod_wsgi.so'), python });
  }
  const prefix = opts.prefix!;
  const state = await inspectPrefix(prefix);
  if (!state.liveManifest) {
    throw new UsageError(`${prefix} holds no wsgi-toolchain build`, `build one first: wsgi-toolchain build --prefix ${prefix}`);
  }
  const root = join(prefix, 'httpd');
  const locked = state.liveManifest.lock.python;
  const system = state.liveManifest.lock.systemApache;
  return verifyServer({
    layout: system ? await layoutFromApxs(system.apxs) : layoutFromRoot(root),
    modWsgi: join(root, 'modules', 'mod_wsgi.so'),
    python: { executable: locked.executable, version: locked.version },
  });
}
