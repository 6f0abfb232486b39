/**
 * npm run bench:serve: hello-world requests/s of mod_wsgi on our httpd and on Debian's apache2 +
 * libapache2-mod-wsgi-py3, under one identical configuration (event MPM, daemon mode 1 process x 10 threads,
 * KeepAlive on, no access log), driven by wrk on loopback, alternated 3x. Prints each run and the ratio of medians.
 * Our stack: --prefix P (a wsgi-toolchain build for /usr/bin/python3), or WSGI_HTTPD_BENCH_PREFIX.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unprivilegedAccount } from '../src/util/accounts.js';
import { freePort } from '../src/util/port.js';

const prefixArg = process.argv.indexOf('--prefix');
const prefix = prefixArg > 0 ? process.argv[prefixArg + 1] : process.env.WSGI_HTTPD_BENCH_PREFIX;
const rounds = 3;
const duration = '6s';

interface Stack {
  name: string;
  httpd: string;
  modules: string;
  modWsgi: string;
}

const stacks: Stack[] = [];
if (!prefix || !existsSync(join(prefix, 'httpd', 'bin', 'httpd'))) {
  console.error('bench:serve needs a built prefix: npm run bench:serve -- --prefix P (wsgi-toolchain build --prefix P --python /usr/bin/python3)');
  process.exit(2);
}
stacks.push({
  name: 'wsgi-httpd',
  httpd: join(prefix, 'httpd', 'bin', 'httpd'),
  modules: join(prefix, 'httpd', 'modules'),
  modWsgi: join(prefix, 'httpd', 'modules', 'mod_wsgi.so'),
});
if (existsSync('/usr/sbin/apache2') && existsSync('/usr/lib/apache2/modules/mod_wsgi.so'))
  stacks.push({ name: 'debian', httpd: '/usr/sbin/apache2', modules: '/usr/lib/apache2/modules', modWsgi: '/usr/lib/apache2/modules/mod_wsgi.so' });
else console.error("Debian's apache2 + libapache2-mod-wsgi-py3 are not installed: only our stack is measured");

const app = `def application(environ, start_response):
    body = b'Hello World!'
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
`;

function config(stack: Stack, dir: string, port: number): string {
  const account = process.getuid?.() === 0 ? unprivilegedAccount() : undefined;
  // Modules compiled into the binary (Debian's apache2 has mod_unixd built in) must not be loaded again.
  const builtIn = execFileSync(stack.httpd, ['-l']).toString();
  const mod = (name: string) => (builtIn.includes(`mod_${name}.c`) ? '' : `LoadModule ${name}_module ${join(stack.modules, `mod_${name}.so`)}`);
  return [
    `ServerRoot ${dir}`,
    'ServerName 127.0.0.1',
    `Listen 127.0.0.1:${port}`,
    `PidFile ${join(dir, 'httpd.pid')}`,
    `DefaultRuntimeDir ${dir}`,
    `Mutex file:${dir} default`,
    `ErrorLog ${join(dir, 'error.log')}`,
    'LogLevel warn',
    mod('mpm_event'),
    mod('authz_core'),
    mod('unixd'),
    `LoadModule wsgi_module ${stack.modWsgi}`,
    ...(account ? [`User ${account.user}`, `Group ${account.group}`] : []),
    'StartServers 1',
    'ServerLimit 1',
    'ThreadsPerChild 25',
    'MaxRequestWorkers 25',
    'KeepAlive On',
    'MaxKeepAliveRequests 0',
    `WSGISocketPrefix ${join(dir, 'wsgi')}`,
    `WSGIDaemonProcess bench processes=1 threads=10 home=${dir}`,
    'WSGIProcessGroup bench',
    'WSGIApplicationGroup %{GLOBAL}',
    `WSGIScriptAlias / ${join(dir, 'app.wsgi')}`,
    `<Directory ${dir}>`,
    '  Require all granted',
    '</Directory>',
    '',
  ].join('\n');
}

function get(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function start(stack: Stack): Promise<{ port: number; child: ChildProcess; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), `bench-serve-${stack.name}-`));
  await chmod(dir, 0o755);
  const port = await freePort();
  await writeFile(join(dir, 'app.wsgi'), app);
  await writeFile(join(dir, 'httpd.conf'), config(stack, dir, port));
  const child = spawn(stack.httpd, ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], { stdio: 'ignore', env: { PATH: process.env.PATH } });
  for (let i = 0; i < 100; i++) {
    if ((await get(port)) === 200) return { port, child, dir };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${stack.name} did not start; see ${join(dir, 'error.log')}`);
}

function wrk(port: number, seconds: string): number {
  const out = execFileSync('wrk', ['-t2', '-c20', `-d${seconds}`, `http://127.0.0.1:${port}/`]).toString();
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

const servers = [];
try {
  for (const stack of stacks) servers.push({ stack, ...(await start(stack)) });
  for (const s of servers) wrk(s.port, '2s'); // warm-up: the daemon imports the app, caches fill
  const results = new Map<string, number[]>(servers.map((s) => [s.stack.name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const s of round % 2 ? servers : [...servers].reverse()) {
      const rps = wrk(s.port, duration);
      results.get(s.stack.name)!.push(rps);
      console.log(`round ${round}: ${s.stack.name.padEnd(10)} ${rps.toFixed(0)} req/s`);
    }
  }
  console.log('\n| stack | runs (req/s) | median |');
  console.log('|---|---|---|');
  for (const [name, values] of results) console.log(`| ${name} | ${values.map((v) => v.toFixed(0)).join(' / ')} | ${median(values).toFixed(0)} |`);
  if (results.size === 2)
    console.log(
      `\nratio wsgi-httpd / debian (medians): ${(median(results.get('wsgi-httpd')!) / median(results.get('debian')!)).toFixed(3)} (target >= 1.0)`,
    );
} finally {
  for (const s of servers) {
    s.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    try {
      process.kill(s.child.pid!, 'SIGKILL');
    } catch {
      /* stopped */
    }
    await rm(s.dir, { recursive: true, force: true });
  }
}
