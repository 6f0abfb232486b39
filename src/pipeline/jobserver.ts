import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../util/run.js';

/**
 * A GNU make jobserver shared by every component of a build, so that components built side by side never run more
 * than `jobs` processes in all. The pool is a FIFO holding one byte per free slot. Every configure, make or install
 * step takes a slot before it starts and gives it back when it ends (that is make's implicit slot); a make also reads
 * extra slots for parallel jobs through --jobserver-auth, and returns them itself.
 */
export class JobServer {
  private constructor(
    readonly jobs: number,
    private readonly fifo: string,
    private readonly fd: number,
  ) {}

  static async create(dir: string, jobs: number): Promise<JobServer> {
    const fifo = join(dir, 'jobserver.fifo');
    await rm(fifo, { force: true });
    const made = await run(['mkfifo', '-m', '600', fifo]);
    if (made.code !== 0) throw new Error(`mkfifo ${fifo} failed: ${made.stderr.trim()}`);
    // O_RDWR keeps the FIFO open for both ends, so neither side ever sees EOF or blocks on open.
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    writeSync(fd, Buffer.alloc(jobs, '+'));
    return new JobServer(jobs, fifo, fd);
  }

  /**
   * Takes one slot, waiting (without blocking the event loop) until one is free. `onWait` is called once if there is
   * none free at first; the promise resolves when one is taken.
   */
  async acquire(signal?: AbortSignal, onWait?: () => void): Promise<void> {
    const byte = Buffer.alloc(1);
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      try {
        if (readSync(this.fd, byte, 0, 1, null) === 1) return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      }
      if (delay === 5) onWait?.();
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  release(): void {
    writeSync(this.fd, '+');
  }

  /** For a make step: fds 3 and 4 of the child are the pool; MAKEFLAGS makes it a jobserver client. */
  makeClient(): { extraFds: number[]; env: Record<string, string> } {
    return { extraFds: [this.fd, this.fd], env: { MAKEFLAGS: `-j${this.jobs} --jobserver-auth=3,4` } };
  }

  async close(): Promise<void> {
    closeSync(this.fd);
    await rm(this.fifo, { force: true });
  }
}
