/**
 * The verify stage: the assembled stack (or the system Apache with --httpd system) serves a WSGI app through the new
 * mod_wsgi in daemon mode on 127.0.0.1, with the Python the build is for.
 */
import { join } from 'node:path';
import { layoutFromApxs, layoutFromRoot } from '../verify/apache-layout.js';
import { verifyServer, type VerifyResult } from '../verify/verify.js';
import type { BuildContext } from './context.js';
import { logHeader } from './run-step.js';

export async function verifyStack(ctx: BuildContext): Promise<VerifyResult> {
  const { plan, log } = ctx;
  const system = plan.lock.systemApache;
  const result = await verifyServer({
    layout: system ? await layoutFromApxs(system.apxs) : layoutFromRoot(plan.layout.root),
    modWsgi: join(plan.layout.root, 'modules', 'mod_wsgi.so'),
    python: {
      executable: plan.lock.python.executable,
      version: plan.lock.python.version,
      known: { isVirtualenv: ctx.python.isVirtualenv, purelib: ctx.python.sitePackages },
    },
    onLog: (line) => log.write(`verify: ${line}\n`),
  });
  logHeader(log, `verify: ${result.url} -> ${result.status}: ${result.body.trim()}`);
  return result;
}
