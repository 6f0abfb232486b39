/**
 * The plan stage: turns a lock (the exact set to build) and the machine's facts into what the pipeline does, with no
 * side effect, so --dry-run prints exactly what a build would do. Each component gets its layer key (store/keys.ts);
 * the stack is the ordered list of those keys.
 */
import { join } from 'node:path';
import { prefixLayout, type PrefixLayout } from '../install/layout.js';
import type { Lock, LockedComponent } from '../resolve/lock.js';
import { type BuildPlatform, type LayerInputs, layerInputs, layerKey, type PythonIdentity, stackKey } from '../store/keys.js';

export type { PrefixLayout };
export { prefixLayout };

export type StepKind = 'unpack' | 'patch' | 'configure' | 'compile' | 'install';

export interface PlannedStep {
  kind: StepKind;
  title: string;
  /** For commands: exactly what runs (in the component's source directory). */
  argv?: string[];
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
  layerKey: string;
  layerInputs: LayerInputs;
}

export interface PlanOptions {
  prefix: string;
  /** The store (WSGI_HTTPD_CACHE_DIR). */
  cacheDir: string;
  /** Parent of per-build source/object directories (not /tmp: it is often noexec). */
  buildRoot: string;
  jobs: number;
  mirrors: string[];
  verify: boolean;
  /** Keep the httpd manual, htdocs and icons (the recipe's `extras`). */
  withManual: boolean;
  machine: BuildPlatform;
  /** The identity of the Python a component like mod_wsgi is built against, and the interpreter that builds it. */
  python?: { identity: PythonIdentity; buildExecutable: string };
  /** CC from the environment (may include a launcher like "ccache cc"). */
  cc?: string;
  ccLauncher?: string;
  extraEnv?: Record<string, string>;
  /** Layer keys taken as given (an archive's), by component, instead of computed here. */
  layerKeys?: Map<string, { key: string; inputs: LayerInputs }>;
}

export interface Plan {
  /** The stack key: the ordered layer keys and what the install leaves out. */
  key: string;
  /**
   * Where components are configured and installed: a deliberately long path under the build root. Each layer keeps
   * it as its placeholder; installing relocates the files into the stack (every path rewritten; never longer).
   */
  stageRoot: string;
  lock: Lock;
  layout: PrefixLayout;
  buildDir: string;
  cacheDir: string;
  jobs: number;
  verify: boolean;
  withManual: boolean;
  components: PlannedComponent[];
}

/** Total length of every stage path; prefixes whose stack path is longer than this cannot be relocated into. */
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

/** Every component's layer inputs and key, dependencies first (a key holds the keys of what it is built against). */
export function layerKeys(lock: Lock, options: Pick<PlanOptions, 'machine' | 'python'>): Map<string, { key: string; inputs: LayerInputs }> {
  const keys = new Map<string, { key: string; inputs: LayerInputs }>();
  const system = lock.systemApache ? { apxs: lock.systemApache.apxs, version: lock.systemApache.version } : undefined;
  for (const c of lock.components) {
    const deps = Object.fromEntries(c.dependencies.filter((d) => keys.has(d)).map((d) => [d, keys.get(d)!.key]));
    const inputs = layerInputs(c, options.machine, deps, options.python?.identity, system);
    keys.set(c.name, { key: layerKey(inputs), inputs });
  }
  return keys;
}

export function makePlan(lock: Lock, options: PlanOptions, stackIdOverride?: string): Plan {
  const keys = options.layerKeys ?? layerKeys(lock, options);
  const key = stackKey(
    lock.components.map((c) => keys.get(c.name)!.key),
    { leftOut: options.withManual ? [] : lock.components.flatMap((c) => (c.docs ?? []).map((d) => `${c.name}:${d}`)) },
  );
  const stackId = stackIdOverride ?? key.slice(0, 16);
  const layout = prefixLayout(options.prefix, stackId);
  const buildDir = join(options.buildRoot, `${key.slice(0, 16)}-build`);
  const stageRoot = placeholderRoot(options.buildRoot, key);
  // {apxs}: ours inside the stage, or the system's with --httpd system (only the withSystemApache recipes are built then).
  const apxs = lock.systemApache?.apxs ?? `${stageRoot}/bin/apxs`;
  const values = { prefix: stageRoot, python: options.python?.buildExecutable ?? lock.python.executable, jobs: String(options.jobs), apxs };
  const components = lock.components.map((c): PlannedComponent => {
    const artifact = c.artifacts[0]!;
    const sourceDir = join(buildDir, `${c.name}-${c.version}`);
    const env: Record<string, string> = { ...options.machine.flags };
    for (const [name, value] of Object.entries(c.env)) env[name] = substitute(value, values);
    const cc = options.ccLauncher ? `${options.ccLauncher} ${options.cc ?? 'cc'}` : options.cc;
    if (cc) env.CC = cc;
    if (options.machine.shell) env.CONFIG_SHELL = options.machine.shell;
    Object.assign(env, options.extraEnv ?? {});
    const jobs = c.parallelMake ? options.jobs : 1;
    const steps: PlannedStep[] = [
      { kind: 'unpack', title: `unpack ${artifact.file} into ${sourceDir}` },
      ...c.patches.map(
        (p): PlannedStep => ({
          kind: 'patch',
          title: `patch ${p.file} (sha256 ${p.sha256}): ${p.description}`,
          argv: ['patch', `-p${p.strip}`, '--forward', '--batch', '-i', join(p.dir, p.file)],
        }),
      ),
      { kind: 'configure', title: `configure ${c.name}`, argv: [`./${c.configure}`, ...c.configureArgs.map((a) => substitute(a, values))] },
      { kind: 'compile', title: `compile ${c.name}`, argv: ['make', `-j${jobs}`, ...c.makeTargets.map((t) => substitute(t, values))] },
      { kind: 'install', title: `install ${c.name}`, argv: ['make', ...c.installTargets.map((t) => substitute(t, values))] },
    ];
    const { key: layer, inputs } = keys.get(c.name)!;
    return {
      name: c.name,
      version: c.version,
      dependencies: c.dependencies,
      locked: c,
      urls: [...mirrorUrls(options.mirrors, c.mirrorPath, artifact.file), ...artifact.urls],
      sourceDir,
      env,
      steps,
      layerKey: layer,
      layerInputs: inputs,
    };
  });
  return {
    key,
    stageRoot,
    lock,
    layout,
    buildDir,
    cacheDir: options.cacheDir,
    jobs: options.jobs,
    verify: options.verify,
    withManual: options.withManual,
    components,
  };
}

const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`);

/** The plan as text; `stored` names the components whose layer is already in the store. */
export function formatPlan(plan: Plan, stored: ReadonlySet<string> = new Set()): string {
  const { lock, layout } = plan;
  const lines = [
    `Plan for ${layout.prefix}: stack ${plan.key.slice(0, 16)} of ${plan.components.length} layers`,
    `  python    ${lock.python.executable} (${lock.python.version}, ${lock.python.abi})`,
    `  compiler  ${lock.compiler.cc}: ${lock.compiler.version}`,
    lock.systemApache
      ? `  apache    the system's: ${lock.systemApache.httpd} ${lock.systemApache.version} (apxs ${lock.systemApache.apxs}); only ${lock.components.map((c) => c.name).join(', ')} built against it`
      : `  features  ${Object.entries(lock.features)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
    `  build in  ${plan.stageRoot}`,
    `  install   ${layout.root}${plan.withManual ? '' : ' (without the manual, htdocs and icons; --with-manual keeps them)'}`,
    `  activate  ${layout.link} -> ${layout.root}`,
    `  build dir ${plan.buildDir}`,
    `  jobs      ${plan.jobs}`,
    '',
  ];
  for (const c of plan.components) {
    const artifact = c.locked.artifacts[0]!;
    const inStore = stored.has(c.name);
    lines.push(
      `${c.name} ${c.version}${c.dependencies.length ? ` (after ${c.dependencies.join(', ')})` : ''}: layer ${c.layerKey.slice(0, 16)}${inStore ? ', in the store: nothing to build' : ''}`,
    );
    if (inStore) {
      lines.push('');
      continue;
    }
    lines.push(`  source  ${artifact.file}  sha256 ${artifact.sha256}`);
    for (const url of c.urls) lines.push(`          ${url}`);
    for (const alt of c.locked.artifacts.slice(1)) lines.push(`  or      ${alt.file}  sha256 ${alt.sha256}`);
    const env = Object.entries(c.env)
      .map(([k, v]) => `${k}=${quote(v)}`)
      .join(' ');
    for (const step of c.steps) {
      if (step.kind === 'unpack') continue;
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
