import { accessSync, constants, existsSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';

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
  filesystem: 9,
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

/**
 * An archive whose decompressed stream went over the unpack limits (src/unpack/unpack.ts `unpackLimits`): too large
 * in total, or expanding too many times its own size. Exit code 5, like any unsafe archive.
 */
export class DecompressionLimitError extends UnpackError {
  readonly limit: 'size' | 'ratio';
  /** Decompressed bytes counted when the stream was stopped (the chunk that crossed the limit included). */
  readonly decompressedBytes: number;
  /** Decompressed bytes that had been handed to the tar parser (and so at most what reached the disk). */
  readonly passedBytes: number;
  readonly archiveBytes: number;
  constructor(
    message: string,
    hint: string,
    details: { limit: 'size' | 'ratio'; decompressedBytes: number; passedBytes: number; archiveBytes: number },
  ) {
    super(message, hint);
    this.limit = details.limit;
    this.decompressedBytes = details.decompressedBytes;
    this.passedBytes = details.passedBytes;
    this.archiveBytes = details.archiveBytes;
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

/**
 * The operating system refused a file operation for an ordinary reason the user can fix: no permission, a read-only
 * file system, a full disk or quota, a file where a directory should be, too many open files. Exit code 9. Made by
 * fromSystemError from Node's errno errors; `code` is the errno name ("ENOSPC"), `path` the path it concerned.
 */
export class FileSystemError extends ToolchainError {
  readonly code: string;
  readonly path: string | undefined;
  constructor(message: string, hint: string, code: string, path?: string, options?: { cause?: unknown }) {
    super(message, hint, ExitCode.filesystem, options);
    this.code = code;
    this.path = path;
  }
}

const fixPermissions =
  'fix the permissions (or the owner) of that directory, or choose another location: --prefix DIR, --cache-dir DIR, WSGI_HTTPD_BUILD_DIR';
const chooseWritable = 'choose a location on a writable file system: --prefix DIR, --cache-dir DIR, WSGI_HTTPD_BUILD_DIR';
const freeSpace = 'free space on that file system (df -h shows it), or choose a larger one: --prefix DIR, --cache-dir DIR, WSGI_HTTPD_BUILD_DIR';

/** errno name -> what it means in words, and what the user can do about it. Anything not listed stays a bug. */
const systemErrors: Record<string, { reason: string; hint: string }> = {
  EACCES: { reason: 'permission denied', hint: fixPermissions },
  EPERM: { reason: 'operation not permitted', hint: fixPermissions },
  EROFS: { reason: 'read-only file system', hint: chooseWritable },
  ENOSPC: { reason: 'no space left on device', hint: freeSpace },
  EDQUOT: { reason: 'disk quota exceeded', hint: `ask for a larger quota, or ${freeSpace}` },
  ENOTDIR: {
    reason: 'a component of the path is a file, not a directory',
    hint: 'remove or rename the file that stands where a directory is expected, or choose another location',
  },
  EEXIST: { reason: 'it already exists', hint: 'remove it (or choose another location) and retry' },
  ENAMETOOLONG: { reason: 'file name too long', hint: 'choose a shorter location (--prefix, --cache-dir, WSGI_HTTPD_BUILD_DIR)' },
  ELOOP: {
    reason: 'too many levels of symbolic links (a symlink where a directory was expected?)',
    hint: 'check the symlinks along that path (ls -l each parent), or choose another location',
  },
  EMFILE: {
    reason: 'too many open files',
    hint: 'raise the open-file limit (ulimit -n 4096) or run fewer builds at once (-j), then retry',
  },
};

/** Node's syscall name -> the verb of "cannot VERB PATH". */
const syscallVerbs: Record<string, string> = {
  mkdir: 'create',
  mkdtemp: 'create',
  open: 'open',
  write: 'write to',
  read: 'read',
  rename: 'rename',
  unlink: 'remove',
  rmdir: 'remove',
  rm: 'remove',
  symlink: 'create the link',
  link: 'create the link',
  copyfile: 'copy',
  chmod: 'change the mode of',
  fchmod: 'change the mode of',
  chown: 'change the owner of',
  utime: 'set the times of',
  futime: 'set the times of',
  scandir: 'list',
  opendir: 'list',
  stat: 'inspect',
  lstat: 'inspect',
  access: 'access',
  fsync: 'flush',
  fdatasync: 'flush',
  spawn: 'run',
};

/**
 * Node's `mkdir(path, { recursive: true })` reports ENOENT when the real failure is a read-only file system (checked
 * on Node 20.20: `mkdir -p` of /ro/a/b on a read-only mount gives ENOENT for /ro/a), or a full one (no inode left). So
 * for an ENOENT from mkdir, ask the deepest existing ancestor whether it may be written to: if not, that is the error
 * to report (with the original path); if it may but its file system has no free inode or block, that is ENOSPC;
 * otherwise the ENOENT stands.
 */
function recursiveMkdirCause(e: NodeJS.ErrnoException): NodeJS.ErrnoException {
  let ancestor = e.path!;
  while (!existsSync(ancestor) && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
  const withCode = (code: string) => Object.assign(Object.create(e) as NodeJS.ErrnoException, { code });
  try {
    accessSync(ancestor, constants.W_OK);
  } catch (probe) {
    const code = (probe as NodeJS.ErrnoException).code;
    return code && code in systemErrors ? withCode(code) : e;
  }
  try {
    const fs = statfsSync(ancestor);
    // (file systems that do not count inodes, such as btrfs, report 0 files and 0 free)
    if ((fs.files > 0 && fs.ffree === 0) || fs.bfree === 0) return withCode('ENOSPC');
  } catch {
    /* cannot tell: the ENOENT stands */
  }
  return e;
}

/**
 * A FileSystemError for an ordinary OS failure (errno listed above), or undefined for anything else (which stays an
 * internal error). `action` is the verb ("create", "write to", "unpack into"), `path` what it was done to; both default
 * to what Node recorded on the error (its syscall and path). Example: "cannot create /x/y: read-only file system".
 */
export function fromSystemError(error: unknown, context: { path?: string; action?: string } = {}): FileSystemError | undefined {
  if (error instanceof ToolchainError || typeof error !== 'object' || error === null) return undefined;
  let e = error as NodeJS.ErrnoException & { dest?: string };
  if (e.code === 'ENOENT' && e.syscall === 'mkdir' && e.path) e = recursiveMkdirCause(e);
  const known = typeof e.code === 'string' ? systemErrors[e.code] : undefined;
  if (!known || !e.code) return undefined;
  const path = context.path || e.path;
  const action = context.action ?? (e.syscall ? syscallVerbs[e.syscall] : undefined) ?? 'use';
  // Without a path (a write to an open file, a pipe), "cannot write to: ..." would read badly: name the call instead.
  const what = path ? `cannot ${action} ${path}${!context.path && e.dest ? ` to ${e.dest}` : ''}` : `${e.syscall ?? action} failed`;
  return new FileSystemError(`${what}: ${known.reason} (${e.code})`, known.hint, e.code, path, { cause: error });
}

export function isToolchainError(error: unknown): error is ToolchainError {
  return error instanceof ToolchainError;
}
