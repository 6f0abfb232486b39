/** Processes by pid (Linux /proc for finding them; nothing found elsewhere). */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Whether a process with this pid is running (EPERM means it is, owned by someone else). A zombie is not: it has
 * exited and only waits for its parent to reap it, which a container's first process may never do, so a lock it held
 * must be free (kill(pid, 0) alone succeeds for a zombie).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !exited(processState(pid));
}

/** The state letter of /proc/<pid>/stat ("R", "S", "Z", …); undefined where there is no /proc or no such process. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

const exited = (state: string | undefined) => state === 'Z' || state === 'X';

/** Sends `signal` to a pid (a negative one: its process group), ignoring one that is gone. */
export function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

interface LiveProcess {
  pid: number;
  pgid: number;
  /** The command line, its arguments joined by NUL as the kernel keeps them. */
  cmdline: string;
}

/** Every live process but this one, zombies aside. */
function liveProcesses(): LiveProcess[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: LiveProcess[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (exited(fields[0])) continue;
      found.push({ pid: Number(entry), pgid: Number(fields[2]), cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8') });
    } catch {
      /* gone or unreadable */
    }
  }
  return found;
}

/** pids whose command line mentions `text` (a server's config file). */
export function processesMentioning(text: string): number[] {
  return liveProcesses()
    .filter((p) => p.cmdline.includes(text))
    .map((p) => p.pid);
}

/** pids in process group `pgid`. */
export function processGroupMembers(pgid: number): number[] {
  return liveProcesses()
    .filter((p) => p.pgid === pgid)
    .map((p) => p.pid);
}
