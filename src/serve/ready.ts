/**
 * When the server answers: serve prints its URL on a line of its own (as Django's runserver does), once an HTTP
 * request to it gets any answer, so a user or a script knows when to start sending requests.
 */
import { request } from 'node:http';
import { isIPv6 } from 'node:net';

/** The URL to show for `--host HOST --port PORT` (IPv6 addresses in brackets). */
export function serverUrl(host: string, port: number): string {
  return `http://${isIPv6(host) ? `[${host}]` : host}:${port}/`;
}

/** Where to send the probe: a wildcard address is reached on the loopback address of its family. */
function probeHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host.replace(/^\[(.*)\]$/, '$1');
}

function answers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const req = request({ host: probeHost(host), port, path: '/', method: 'HEAD', timeout: timeoutMs }, (res) => {
      res.resume();
      done(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(false));
    req.end();
  });
}

/**
 * Resolves true once the server at host:port answers an HTTP request (any status), false when `stopped()` turns true
 * first (the server exited, or serve is stopping).
 */
export async function waitUntilAnswering(host: string, port: number, stopped: () => boolean, intervalMs = 200): Promise<boolean> {
  while (!stopped()) {
    if (await answers(host, port, 2_000)) return !stopped();
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return false;
}
