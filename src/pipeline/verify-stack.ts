/**
 * The verify stage: the assembled stack (or the system Apache with --httpd system) serves a WSGI app through the new
 * mod_wsgi in daemon mode on 127.0.0.1, with the Python the build is for.
 */
import { join } from 'node:path';
import { type HttpdProbe, layoutFromApxs, layoutFromRoot, probeHttpd } from '../verify/apache-layout.js';
import { verifyServer, type VerifyResult } from '../verify/verify.js';
import { type FactsCache, recall, remember } from '../util/remembered.js';
import type { BuildContext } from './context.js';
import { logHeader } from './run-step.js';

export async function verifyStack(ctx: BuildContext): Promise<VerifyResult> {
  const { plan, log } = ctx;
  const system = plan.lock.systemApache;
  const layout = system ? await layoutFromApxs(system.apxs) : layoutFromRoot(plan.layout.root);
  const serve = (probe?: (httpd: string) => Promise<HttpdProbe>) =>
    verifyServer({
      layout,
      modWsgi: join(plan.layout.root, 'modules', 'mod_wsgi.so'),
      python: {
        executable: plan.lock.python.executable,
        version: plan.lock.python.version,
        known: { isVirtualenv: ctx.python.isVirtualenv, purelib: ctx.python.sitePackages },
      },
      ...(probe ? { probeHttpd: probe } : {}),
      onLog: (line) => log.write(`verify: ${line}\n`),
    });
  const facts = { dir: join(plan.cacheDir, 'facts') };
  const layer = system ? undefined : plan.components.find((c) => c.name === 'httpd')?.layerKey;
  const known = layer ? await recall<HttpdProbe>(facts, 'httpd-probe', layer) : undefined;
  let result: VerifyResult;
  if (!layer || !usable(known)) result = await serve(layer ? (httpd) => rememberedHttpdProbe(facts, layer, httpd) : undefined);
  else {
    try {
      result = await serve(async () => known);
    } catch (error) {
      // A remembered answer the binary no longer gives (a damaged facts file) must not fail the build: ask it again.
      const live = await probeHttpd(layout.httpd);
      if (JSON.stringify(live) === JSON.stringify(known)) throw error;
      log.write(`verify: httpd's remembered -v/-l answer was not what it says now; verifying again with its answer\n`);
      await remember(facts, 'httpd-probe', layer, live);
      result = await serve(async () => live);
    }
  }
  logHeader(log, `verify: ${result.url} -> ${result.status}: ${result.body.trim()}`);
  return result;
}

const usable = (probe: HttpdProbe | undefined): probe is HttpdProbe => Array.isArray(probe?.compiledIn) && probe.compiledIn.length > 0;

/**
 * What our httpd says to `-v` and `-l`, asked once per httpd layer: the answer is a function of the binary, which the
 * layer's key names and assemble has just checked byte for byte (two processes less in every warm build's verify).
 * An answer without compiled-in modules is not kept.
 */
export async function rememberedHttpdProbe(facts: FactsCache, layerKey: string | undefined, httpd: string): Promise<HttpdProbe> {
  if (!layerKey) return probeHttpd(httpd);
  const known = await recall<HttpdProbe>(facts, 'httpd-probe', layerKey);
  if (usable(known)) return known;
  const probe = await probeHttpd(httpd);
  if (probe.version && probe.compiledIn.length > 0) await remember(facts, 'httpd-probe', layerKey, probe);
  return probe;
}
