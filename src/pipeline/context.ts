import type { WriteStream } from 'node:fs';
import type { PythonInfo } from '../python/types.js';
import type { Store } from '../store/store.js';
import type { BuildEvents } from './events.js';
import type { BuildOptions } from './options.js';
import type { Plan } from './plan.js';

/** What every stage of a build is a function of. */
export interface BuildContext {
  plan: Plan;
  options: BuildOptions;
  store: Store;
  /** The build log: every command, its output, and what each stage decided. */
  log: WriteStream;
  logFile: string;
  events: BuildEvents;
  signal: AbortSignal;
  /** The Python the build is for (as prepare detected it). */
  python: PythonInfo;
  /** --sources directories indexed by sha256 (hashed on first call, once per build). */
  sourceIndex: () => Promise<Map<string, string> | undefined>;
}
