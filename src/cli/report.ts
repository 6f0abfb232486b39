import type { BuildReport } from '../build/execute.js';

export function formatReport(report: BuildReport): string {
  if (report.upToDate) return `up to date: ${report.link} -> ${report.root} (nothing to build)`;
  const lines = ['', 'Built:'];
  for (const c of report.components) lines.push(`  ${c.name.padEnd(9)} ${c.version.padEnd(8)} ${c.seconds.toFixed(1).padStart(6)} s   ${c.origin}`);
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
