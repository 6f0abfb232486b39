/** The processes a test left behind, found through /proc (Linux). */
import { readdir, readFile, readlink } from 'node:fs/promises';

export interface Proc {
  pid: number;
  cmdline: string;
  cwd: string;
}

/**
 * Live processes (zombies aside, and not this one) that belong to `dir`: working in it, running a binary from it, or
 * naming it on their command line (a server's configuration, a build's prefix).
 */
export async function processesUnder(dir: string): Promise<Proc[]> {
  const found: Proc[] = [];
  const within = (path: string) => path === dir || path.startsWith(`${dir}/`);
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      const cwd = await readlink(`/proc/${name}/cwd`).catch(() => '');
      const exe = await readlink(`/proc/${name}/exe`).catch(() => '');
      if (within(cwd) || within(exe) || cmdline.includes(dir)) found.push({ pid: Number(name), cmdline, cwd });
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return found;
}

/** SIGKILL to each, ignoring those already gone. */
export function killAll(procs: readonly Proc[]): void {
  for (const { pid } of procs) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
