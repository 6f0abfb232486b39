/** What a build reports (the CLI prints it, the API returns it). */
import { join } from 'node:path';
import type { VerifyResult } from '../verify/verify.js';
import type { Plan } from './plan.js';

export interface LayerReport {
  component: string;
  version: string;
  key: string;
  /** "built" in this build, or "store" (nothing compiled). */
  origin: 'built' | 'store';
  seconds: number;
}

export interface BuildReport {
  prefix: string;
  root: string;
  link: string;
  lockFile: string;
  logFile: string;
  upToDate: boolean;
  /** The stack key and its layers, in order. */
  stack: string;
  layers: LayerReport[];
  totalSeconds: number;
  verify?: VerifyResult;
  /** --httpd system: the Apache the module was built for and is served by. */
  systemApache?: { apxs: string; httpd: string; version: string };
}

/** What a build reports when the prefix already holds exactly this plan's result (and the base of every report). */
export function upToDateReport(plan: Plan): BuildReport {
  const { layout } = plan;
  return {
    prefix: layout.prefix,
    root: layout.root,
    link: layout.link,
    lockFile: layout.lockFile,
    logFile: join(layout.logsDir, 'build.log'),
    upToDate: true,
    stack: plan.key,
    layers: plan.components.map((c) => ({ component: c.name, version: c.version, key: c.layerKey, origin: 'store', seconds: 0 })),
    totalSeconds: 0,
    systemApache: plan.lock.systemApache,
  };
}
