import { resolve } from 'node:path';
import { ExitCode, NotBuiltError, UsageError } from '../../errors.js';
import { formatBytes } from '../../util/format.js';
import { defaultPrefix, wholeNumber } from '../build-options.js';
import { defineCommand, optionGroup } from '../command.js';
import { cacheDirOption, insecureRegistryOption, jsonOption, prefixOption, waitOption } from '../options.js';

export const pushCommand = defineCommand({
  name: 'push',
  summary: "upload a prefix's stack to an OCI registry: each layer once, plus the stack manifest",
  usage: ['push [--prefix DIR] HOST[:PORT]/REPOSITORY[:TAG] [--insecure-registry] [--json]'],
  description:
    'Layers the registry already has (same digest) are not sent again, so stacks that share layers share blobs. Each ' +
    'layer is also tagged layer-<key>, which is what build --cache-from looks up. Credentials: WSGI_HTTPD_REGISTRY_USER ' +
    'and WSGI_HTTPD_REGISTRY_PASSWORD, else ~/.docker/config.json.',
  operand: { name: 'REFERENCE', required: true },
  groups: [optionGroup('Options', { ...prefixOption, ...insecureRegistryOption, ...waitOption, ...cacheDirOption, ...jsonOption })],
  examples: ['wsgi-toolchain push --prefix ./venv ghcr.io/acme/wsgi-httpd:py311', 'wsgi-toolchain push --prefix ./venv localhost:5000/stacks'],
  async run({ values, positionals }) {
    const prefixArg = values.prefix ?? defaultPrefix(process.env);
    if (!prefixArg) throw new UsageError('no --prefix given', 'pass --prefix DIR of a wsgi-toolchain build');
    await (await import('../../install/prefix-trust.js')).checkPrefixTrust(resolve(prefixArg));
    const [
      { parseReference, formatReference },
      { RegistryClient },
      { inspectPrefix },
      { lockPrefix },
      { Store, storeRoot },
      { pushStack },
      { pythonIdentity },
      { detectPython },
    ] = await Promise.all([
      import('../../registry/reference.js'),
      import('../../registry/client.js'),
      import('../../install/prefix.js'),
      import('../../install/prefix-lock.js'),
      import('../../store/store.js'),
      import('../../store/remote.js'),
      import('../../store/keys.js'),
      import('../../python/detect.js'),
    ]);
    const ref = parseReference(positionals[0]!);
    const prefix = resolve(prefixArg);
    // No build, no lock: a prefix without one gets nothing written.
    if (!(await inspectPrefix(prefix)).liveStackId) throw new NotBuiltError(prefix);
    const store = new Store(await storeRoot({ cacheDir: values['cache-dir'], env: process.env }));
    const release = await lockPrefix(prefix, { what: `push of ${prefix}`, waitMs: (wholeNumber(values.wait, '--wait') ?? 0) * 1000 });
    try {
      const manifest = (await inspectPrefix(prefix)).liveManifest;
      if (!manifest || !Array.isArray(manifest.layers)) throw new NotBuiltError(prefix);
      const layers = [];
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
      const where = formatReference({ ...ref, tag });
      if (values.json) process.stdout.write(`${JSON.stringify({ reference: where, ...pushed }, null, 2)}\n`);
      else {
        const uploaded = pushed.layers.filter((l) => l.outcome !== 'exists');
        process.stdout.write(`pushed stack ${manifest.key.slice(0, 16)} to ${where} (${pushed.digest})\n`);
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
  },
});
