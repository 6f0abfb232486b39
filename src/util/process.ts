/** Processes by pid (Linux /proc for finding them; nothing found elsewhere). */
import { readdirSync, readFileSync } from 'node:fs';

/** Whether a process with this pid exists (EPERM means it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

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
      if (fields[0] === 'Z' || fields[0] === 'X') continue;
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
