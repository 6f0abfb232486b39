/**
 * The sources stage: the release file of every component to build, downloaded (or found locally) and verified by
 * sha256, all at once; with --verify-signatures, the pinned OpenPGP signature too. Components whose layer is in the
 * store need no source.
 */
import { ToolchainError } from '../errors.js';
import { acquireArtifact, collectLocal, sourceOf, type AcquireResult } from '../fetch/acquire.js';
import { progressReporter } from '../fetch/progress.js';
import { checkSignature, keysFor, loadSigningKeys } from '../fetch/signature.js';
import type { BuildContext } from './context.js';
import type { PlannedComponent } from './plan.js';

export interface Source {
  path: string;
  origin: string;
}

export async function fetchSources(ctx: BuildContext, components: PlannedComponent[]): Promise<Map<string, Source>> {
  const { options, plan, log, events, signal } = ctx;
  const sources = new Map<string, Source>();
  if (components.length === 0) return sources;
  const sourceIndex = await ctx.sourceIndex();
  const local = options.offline
    ? await collectLocal(components, {
        cacheDir: plan.cacheDir,
        mirrors: options.mirrors,
        sourceIndex,
        log: (line) => log.write(`${line}\n`),
      })
    : new Map<string, AcquireResult>();
  const keySets = options.verifySignatures ? await loadSigningKeys(options.recipesDirs) : [];
  const failures: unknown[] = [];
  await Promise.all(
    components.map(async (c) => {
      // Offline, the file found locally is the one to name (it may be another of the recipe's artifacts).
      const artifact = local.get(c.name)?.artifact ?? c.locked.artifacts[0]!;
      events.send({ type: 'component', name: c.name, version: c.version, phase: 'download', detail: artifact.file });
      const lines = progressReporter(artifact.file, (line) => {
        log.write(`download ${c.name}: ${line}\n`);
        events.send({ type: 'component', name: c.name, version: c.version, phase: 'download', detail: line });
      });
      try {
        const result =
          local.get(c.name) ??
          (await acquireArtifact({
            download: { env: options.env },
            ...sourceOf(c),
            mirrors: options.mirrors,
            sourceIndex,
            offline: options.offline,
            cacheDir: plan.cacheDir,
            signal,
            onAttempt: (a) => log.write(`download ${c.name}: ${a.url}: ${a.outcome}\n`),
            onProgress: (p) => {
              lines(p);
              events.send({ type: 'download', name: c.name, transferred: p.transferred, total: p.total, url: p.url });
            },
          }));
        lines.done();
        log.write(`download ${c.name}: using ${result.path} (${result.origin})\n`);
        let signed = '';
        const keys = options.verifySignatures ? keysFor(c.name, keySets) : undefined;
        if (keys) {
          const sig = await checkSignature({
            ...sourceOf(c),
            acquired: result,
            mirrors: options.mirrors,
            sourceIndex,
            offline: options.offline,
            env: options.env,
            signal,
            keys,
          });
          log.write(`signature ${c.name}: ${sig.origin}: good signature by ${sig.uid} (${sig.fingerprint}), made ${sig.date}\n`);
          signed = `, signature ok: ${sig.uid.replace(/\s*<.*>$/, '')}`;
        } else if (options.verifySignatures) log.write(`signature ${c.name}: no pinned signing keys for ${c.name}; sha256 only\n`);
        sources.set(c.name, { path: result.path, origin: result.origin });
        const how = result.origin.startsWith('http') ? `downloaded from ${result.origin}` : `from ${result.origin}`;
        events.send({
          type: 'component',
          name: c.name,
          version: c.version,
          phase: 'queued',
          detail: `${result.artifact.file} ${how}, sha256 ok${signed}`,
        });
      } catch (error) {
        failures.push(error);
        events.send({
          type: 'component',
          name: c.name,
          version: c.version,
          phase: 'failed',
          detail: error instanceof ToolchainError ? error.message : String(error),
        });
      }
    }),
  );
  // Every download ran to its end (each one's outcome is shown); the first failure is the build's.
  if (failures.length > 0) throw failures[0];
  return sources;
}
