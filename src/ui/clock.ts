/** The time and timers a view runs on: the real ones, or a test's (which advances them by hand). */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Date.now and Node's timers, unref'd: a view never keeps the process alive. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** "04:21:49" (UTC), the stamp of a plain line. */
export function clockStamp(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}
