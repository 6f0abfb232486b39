import type { BuildReport } from '../pipeline/report.js';

export function formatReport(report: BuildReport): string {
  if (report.upToDate) return `up to date: ${report.link} -> ${report.root} (nothing to build)`;
  const lines = ['', `Stack ${report.stack.slice(0, 16)}, layers:`];
  for (const l of report.layers)
    lines.push(
      `  ${l.component.padEnd(9)} ${l.version.padEnd(8)} ${l.key.slice(0, 12)}  ${l.origin === 'built' ? `built in ${l.seconds.toFixed(1)} s` : 'from the store'}`,
    );
  lines.push(`  ${'total'.padEnd(18)} ${report.totalSeconds.toFixed(1).padStart(6)} s`);
  if (report.verify) {
    const v = report.verify;
    lines.push('', `Verified: GET ${v.url} -> ${v.status} from ${v.httpdVersion}, ${v.mpm} MPM, Python ${v.pythonVersion}`);
    lines.push(`  ${v.body.trim().split('\n').join('\n  ')}`);
  }
  const system = report.systemApache;
  lines.push(
    '',
    `httpd:     ${system ? `${system.httpd} (the system's Apache ${system.version})` : `${report.link}/bin/httpd`}`,
    `apxs:      ${system ? system.apxs : `${report.link}/bin/apxs`}`,
    `mod_wsgi:  ${report.link}/modules/mod_wsgi.so`,
    `lock:      ${report.lockFile}`,
    `log:       ${report.logFile}`,
  );
  return lines.join('\n');
}
