import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Lock, LockedComponent } from '../resolve/lock.js';

/** Where a build lives. Everything Apache-side sits in a stack directory that is switched into place atomically. */
export interface PrefixLayout {
  prefix: string;
  /** <prefix>/.wsgi-httpd: state, stacks, logs. */
  stateDir: string;
  /** The symlink users use: <prefix>/httpd -> .wsgi-httpd/stacks/<id>. */
  link: string;
  /** The directory this build installs into (its --prefix for configure). */
  root: string;
  stackId: string;
  lockFile: string;
  manifestFile: string;
  logsDir: string;
}

export type StepKind = 'download' | 'unpack' | 'patch' | 'configure' | 'compile' | 'install' | 'check';

export interface PlannedStep {
  kind: StepKind;
  title: string;
  /** For commands: exactly what runs, where, with what extra environment. */
  argv?: string[];
  cwd?: string;
}

export interface PlannedComponent {
  name: string;
  version: string;
  dependencies: string[];
  locked: LockedComponent;
  /** The expanded download chain for the preferred artifact (mirrors first). */
  urls: string[];
  sourceDir: string;
  env: Record<string, string>;
  steps: PlannedStep[];
}

export interface PlanOptions {
  prefix: string;
  cacheDir: string;
  /** Parent of per-build source/object directories (not /tmp: it is often noexec). */
  buildRoot: string;
  jobs: number;
  mirrors: string[];
  verify: boolean;
  /** CC from the environment (may include a launcher like "ccache cc"). */
  cc?: string;
  ccLauncher?: string;
  extraEnv?: Record<string, string>;
}

export interface Plan {
  key: string;
  /**
   * Where components are configured and installed: a deliberately long path under the build root. The finished tree is
   * cached, then relocated into layout.root (every path rewritten; never longer, so binaries can be patched in place).
   */
  stageRoot: string;
  lock: Lock;
  layout: PrefixLayout;
  buildDir: string;
  cacheDir: string;
  jobs: number;
  verify: boolean;
  components: PlannedComponent[];
}

/** The cache and no-op key: every input that can change the bytes of the result. */
export function buildKey(lock: Lock): string {
  const inputs = {
    platform: lock.platform,
    compiler: lock.compiler,
    python: lock.python,
    features: lock.features,
    httpdMode: lock.httpdMode,
    systemApache: lock.systemApache,
    components: lock.components.map((c) => ({
      name: c.name,
      version: c.version,
      sha256: c.artifacts.map((a) => a.sha256),
      patches: c.patches.map((p) => p.sha256),
      configure: c.configure,
      configureArgs: c.configureArgs,
      env: c.env,
      makeTargets: c.makeTargets,
      installTargets: c.installTargets,
    })),
  };
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex');
}

export function prefixLayout(prefix: string, stackId: string): PrefixLayout {
  const stateDir = join(prefix, '.wsgi-httpd');
  const root = join(stateDir, 'stacks', stackId);
  return {
    prefix,
    stateDir,
    link: join(prefix, 'httpd'),
    root,
    stackId,
    lockFile: join(prefix, 'wsgi-toolchain.lock.json'),
    manifestFile: join(root, '.wsgi-toolchain-manifest.json'),
    logsDir: join(stateDir, 'logs'),
  };
}

/** Total length of the placeholder path; prefixes whose stack path is longer than this cannot be relocated into. */
export const placeholderLength = 200;

export function placeholderRoot(buildRoot: string, key: string): string {
  const base = join(buildRoot, 'stage', `${key.slice(0, 16)}_`);
  return base + 'p'.repeat(Math.max(16, placeholderLength - base.length));
}

export function substitute(text: string, values: Record<string, string>): string {
  return text.replace(/\{(prefix|python|jobs|apxs)\}/g, (_, key: string) => values[key]!);
}

export function mirrorUrls(mirrors: string[], mirrorPath: string, file: string): string[] {
  return mirrors.map((m) => `${m.replace(/\/+$/, '')}/${mirrorPath.replace('{file}', file)}`);
}

/**
 * Turns a lock (the exact set to build) and the machine-specific options into the steps the executor runs. Pure: the
 * same inputs always give the same plan, and nothing is touched, so --dry-run prints exactly what a build would do.
 * `stackId` is chosen by the caller from the key (it differs only when a forced rebuild must not reuse the live one).
 */
export function makePlan(lock: Lock, options: PlanOptions, stackId: string = buildKey(lock).slice(0, 16)): Plan {
  const key = buildKey(lock);
  const layout = prefixLayout(options.prefix, stackId);
  const buildDir = join(options.buildRoot, `${stackId}-build`);
  const stageRoot = placeholderRoot(options.buildRoot, key);
  // {apxs}: ours inside the build, or the system's with --httpd system (mod_wsgi is then the only component).
  const apxs = lock.systemApache?.apxs ?? `${stageRoot}/bin/apxs`;
  const values = { prefix: stageRoot, python: lock.python.executable, jobs: String(options.jobs), apxs };
  const components = lock.components.map((c): PlannedComponent => {
    const artifact = c.artifacts[0]!;
    const sourceDir = join(buildDir, `${c.name}-${c.version}`);
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(c.env)) env[name] = substitute(value, values);
    const cc = options.ccLauncher ? `${options.ccLauncher} ${options.cc ?? 'cc'}` : options.cc;
    if (cc) env.CC = cc;
    Object.assign(env, options.extraEnv ?? {});
    const jobs = c.parallelMake ? options.jobs : 1;
    const steps: PlannedStep[] = [
      { kind: 'download', title: `download ${artifact.file} (sha256 ${artifact.sha256})` },
      { kind: 'unpack', title: `unpack ${artifact.file} into ${sourceDir}` },
      ...c.patches.map(
        (p): PlannedStep => ({
          kind: 'patch',
          title: `patch ${p.file} (sha256 ${p.sha256}): ${p.description}`,
          argv: ['patch', `-p${p.strip}`, '--forward', '--batch', '-i', join(p.dir, p.file)],
          cwd: sourceDir,
        }),
      ),
      {
        kind: 'configure',
        title: `configure ${c.name}`,
        argv: [`./${c.configure}`, ...c.configureArgs.map((a) => substitute(a, values))],
        cwd: sourceDir,
      },
      {
        kind: 'compile',
        title: `compile ${c.name}`,
        argv: ['make', `-j${jobs}`, ...c.makeTargets.map((t) => substitute(t, values))],
        cwd: sourceDir,
      },
      { kind: 'install', title: `install ${c.name}`, argv: ['make', ...c.installTargets.map((t) => substitute(t, values))], cwd: sourceDir },
      { kind: 'check', title: `check ${c.name} installed ${c.provides.length} files` },
    ];
    return {
      name: c.name,
      version: c.version,
      dependencies: c.dependencies,
      locked: c,
      urls: [...mirrorUrls(options.mirrors, c.mirrorPath, artifact.file), ...artifact.urls],
      sourceDir,
      env,
      steps,
    };
  });
  return { key, stageRoot, lock, layout, buildDir, cacheDir: options.cacheDir, jobs: options.jobs, verify: options.verify, components };
}

const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`);

export function formatPlan(plan: Plan): string {
  const { lock, layout } = plan;
  const lines = [
    `Plan ${plan.key.slice(0, 16)} for ${layout.prefix}`,
    `  python    ${lock.python.executable} (${lock.python.version}, ${lock.python.abi})`,
    `  compiler  ${lock.compiler.cc}: ${lock.compiler.version}`,
    lock.systemApache
      ? `  apache    the system's: ${lock.systemApache.httpd} ${lock.systemApache.version} (apxs ${lock.systemApache.apxs}); only mod_wsgi is built`
      : `  features  ssl=${lock.features.ssl} zlib=${lock.features.zlib} expat=${lock.features.expat ? 'built' : 'system'}`,
    `  build in  ${plan.stageRoot}`,
    `  (reused from the build cache when ${plan.key.slice(0, 16)} is there; then relocated into the prefix)`,
    `  install   ${layout.root}`,
    `  activate  ${layout.link} -> ${layout.root}`,
    `  build dir ${plan.buildDir}`,
    `  jobs      ${plan.jobs}`,
    '',
  ];
  for (const c of plan.components) {
    const artifact = c.locked.artifacts[0]!;
    lines.push(`${c.name} ${c.version}${c.dependencies.length ? ` (after ${c.dependencies.join(', ')})` : ''}`);
    lines.push(`  source  ${artifact.file}  sha256 ${artifact.sha256}`);
    for (const url of c.urls) lines.push(`          ${url}`);
    for (const alt of c.locked.artifacts.slice(1)) lines.push(`  or      ${alt.file}  sha256 ${alt.sha256}`);
    const env = Object.entries(c.env)
      .map(([k, v]) => `${k}=${quote(v)}`)
      .join(' ');
    for (const step of c.steps) {
      if (step.kind === 'download' || step.kind === 'unpack') continue;
      lines.push(
        `  ${step.kind.padEnd(9)} ${step.argv ? (step.kind === 'configure' && env ? `${env} ` : '') + step.argv.map(quote).join(' ') : step.title}`,
      );
    }
    lines.push('');
  }
  if (plan.verify) lines.push(`verify   start httpd on 127.0.0.1 with mod_wsgi (daemon mode), GET /, expect Python ${lock.python.version}`, '');
  lines.push(`then switch ${layout.link} to the new stack and write ${layout.lockFile}`);
  return lines.join('\n');
}
