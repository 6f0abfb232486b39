/**
 * Every failure a user can cause or fix is a ToolchainError: one line saying what is wrong, one hint saying what to
 * do, and the exit code the CLI returns. Anything else that escapes is a bug and exits with 70.
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  prerequisite: 3,
  download: 4,
  checksum: 5,
  build: 6,
  verify: 7,
  locked: 8,
  interrupted: 130,
  internal: 70,
} as const;
export type ExitCodeName = keyof typeof ExitCode;

export class ToolchainError extends Error {
  readonly hint: string;
  readonly exitCode: number;
  constructor(message: string, hint: string, exitCode: number = ExitCode.failure, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.hint = hint;
    this.exitCode = exitCode;
  }
}

export class UsageError extends ToolchainError {
  constructor(message: string, hint: string) {
    super(message, hint, ExitCode.usage);
  }
}

export class RecipeError extends ToolchainError {
  constructor(message: string, hint = 'fix the recipe file named above (see recipes/README.md for the format)') {
    super(message, hint, ExitCode.usage);
  }
}

export class ResolveError extends ToolchainError {
  constructor(message: string, hint: string) {
    super(message, hint, ExitCode.usage);
  }
}

export class PrerequisiteError extends ToolchainError {
  constructor(message: string, hint: string) {
    super(message, hint, ExitCode.prerequisite);
  }
}

export class DownloadError extends ToolchainError {
  constructor(message: string, hint: string, options?: { cause?: unknown }) {
    super(message, hint, ExitCode.download, options);
  }
}

export class ChecksumError extends ToolchainError {
  readonly expected: string;
  readonly actual: string;
  constructor(file: string, expected: string, actual: string, hint?: string) {
    super(
      `checksum mismatch for ${file}: expected sha256 ${expected}, got ${actual}`,
      hint ?? 'the file is corrupt or not the published release; it was deleted and nothing was extracted. Retry, or check the source you pointed at',
      ExitCode.checksum,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/** An OpenPGP signature (--verify-signatures) that does not verify, or was made by a key that is not pinned. */
export class SignatureError extends ToolchainError {
  constructor(message: string, hint: string) {
    super(message, hint, ExitCode.checksum);
  }
}

export class UnpackError extends ToolchainError {
  constructor(message: string, hint = 'the archive is unsafe or damaged; nothing was extracted. Check where it came from') {
    super(message, hint, ExitCode.checksum);
  }
}

export class BuildStepError extends ToolchainError {
  readonly logFile: string;
  readonly tail: string[];
  constructor(message: string, hint: string, logFile: string, tail: string[]) {
    super(message, hint, ExitCode.build);
    this.logFile = logFile;
    this.tail = tail;
  }
}

export class VerifyError extends ToolchainError {
  constructor(message: string, hint: string) {
    super(message, hint, ExitCode.verify);
  }
}

export class LockedError extends ToolchainError {
  constructor(message: string, hint: string) {
    super(message, hint, ExitCode.locked);
  }
}

/** A prefix holds no wsgi-toolchain build (locate(), info, uninstall). Exit code 2, like any usage error. */
export class NotBuiltError extends UsageError {
  readonly prefix: string;
  constructor(
    prefix: string,
    message = `${prefix} holds no wsgi-toolchain build`,
    hint = `build one first: wsgi-toolchain build --prefix ${prefix}`,
  ) {
    super(message, hint);
    this.prefix = prefix;
  }
}

export function isToolchainError(error: unknown): error is ToolchainError {
  return error instanceof ToolchainError;
}
