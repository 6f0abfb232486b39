import { BuildStepError, ExitCode, fromSystemError, ToolchainError } from '../errors.js';

/** Prints an error the way every command does (one line, with the fix) and returns its exit code. */
export function printError(error: unknown): number {
  // A plain Node system error that escaped (a full disk, a read-only prefix, no permission) is the user's to fix, not
  // a bug: it becomes a FileSystemError (exit 9). Only errnos fromSystemError does not know stay internal errors.
  const known = error instanceof ToolchainError ? error : fromSystemError(error);
  if (known) {
    if (known instanceof BuildStepError) {
      if (known.tail.length) process.stderr.write(`\nLast lines of the failing step:\n${known.tail.map((l) => `  | ${l}`).join('\n')}\n`);
      process.stderr.write(`Full log: ${known.logFile}\n`);
    }
    process.stderr.write(`wsgi-toolchain: error: ${known.message} (fix: ${known.hint})\n`);
    return known.exitCode;
  }
  process.stderr.write(
    `wsgi-toolchain: internal error: ${(error as Error)?.stack ?? String(error)}\n(please report this with the command you ran)\n`,
  );
  return ExitCode.internal;
}
