import { formatBytes } from '../util/format.js';
/**
 * Download progress as text. Outside a terminal a live bar is useless (CI logs, pipes), so a download prints a line
 * when it starts, about every 25 % (or every 10 MB when the size is unknown), and when it ends; each line has the bytes,
 * the total when known and the average speed. In a terminal `formatProgress` gives one short status for the task line.
 * Pure: the clock is injectable, so tests feed synthetic events.
 */
import type { DownloadProgress } from './download.js';

export interface ProgressReporterOptions {
  /** Milliseconds; default Date.now. */
  now?: () => number;
  /** Lines at these fractions of the total (default every 25 %). */
  step?: number;
  /** Without a total: a line every this many bytes (default 10 MB). */
  unknownStepBytes?: number;
}

export interface ProgressReporter {
  (progress: DownloadProgress): void;
  /** Prints the final line unless it was printed already (it is, when the total was known and reached); for a
   * download of unknown size call it when the transfer ends. `bytes` defaults to the last count seen. */
  done(bytes?: number): void;
}

export { formatBytes };

/** "3.2 MiB / 9.6 MiB (33 %), 1.4 MiB/s" (the speed only when elapsedMs > 0). */
export function formatProgress(transferred: number, total: number | undefined, elapsedMs?: number): string {
  let text = formatBytes(transferred);
  if (total && total > 0) text += ` / ${formatBytes(total)} (${Math.min(100, Math.floor((transferred / total) * 100))} %)`;
  if (elapsedMs && elapsedMs > 0) text += `, ${formatBytes(Math.round((transferred / elapsedMs) * 1000))}/s`;
  return text;
}

/**
 * Returns an onProgress callback that calls onLine with "NAME: started ...", "NAME: 2.5 MiB / 9.6 MiB (26 %), ..."
 * and "NAME: done ..." lines (the last one as soon as the total is reached). A new URL (a fallback after a failure)
 * starts a new series of lines.
 */
export function progressReporter(name: string, onLine: (line: string) => void, options: ProgressReporterOptions = {}): ProgressReporter {
  const now = options.now ?? Date.now;
  const step = options.step ?? 0.25;
  const unknownStep = options.unknownStepBytes ?? 10 * 1024 * 1024;
  let url: string | undefined;
  let startedAt = 0;
  let startBytes = 0;
  let nextMark = 0;
  let last = 0;
  let total: number | undefined;
  let finished = false;

  const speedPart = (bytes: number) => {
    // measured from the first event (its bytes excluded): a resumed transfer is not counted as instant
    const elapsed = now() - startedAt;
    return elapsed > 0 && bytes > startBytes ? `, ${formatBytes(Math.round(((bytes - startBytes) / elapsed) * 1000))}/s` : '';
  };
  const sizePart = (bytes: number) =>
    total && total > 0 ? `${formatBytes(bytes)} / ${formatBytes(total)} (${Math.min(100, Math.floor((bytes / total) * 100))} %)` : formatBytes(bytes);

  const report = ((p: DownloadProgress) => {
    if (p.url !== url) {
      url = p.url;
      finished = false;
      startedAt = now();
      startBytes = p.transferred;
      total = p.total;
      let host = p.url;
      try {
        host = new URL(p.url).host || p.url;
      } catch {
        /* not a URL: print it as it is */
      }
      const size = total ? formatBytes(total) : 'size unknown';
      onLine(`${name}: started (${size}) from ${host}`);
      nextMark = total ? (Math.floor(p.transferred / total / step) + 1) * step : p.transferred + unknownStep;
    }
    if (finished) return;
    total = p.total ?? total;
    last = p.transferred;
    if (total && total > 0) {
      if (p.transferred >= total) return report.done(p.transferred);
      if (p.transferred / total >= nextMark) {
        while (p.transferred / total >= nextMark) nextMark += step;
        onLine(`${name}: ${sizePart(p.transferred)}${speedPart(p.transferred)}`);
      }
    } else if (p.transferred >= nextMark) {
      while (p.transferred >= nextMark) nextMark += unknownStep;
      onLine(`${name}: ${sizePart(p.transferred)}${speedPart(p.transferred)}`);
    }
  }) as ProgressReporter;

  report.done = (bytes?: number) => {
    if (finished || url === undefined) return;
    finished = true;
    const final = bytes ?? last;
    onLine(`${name}: done, ${formatBytes(final)}${speedPart(final)}`);
  };
  return report;
}
