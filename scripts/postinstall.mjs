#!/usr/bin/env node
// The "postinstall" of wsgi-httpd. Plain JavaScript on purpose: in this repository's own `npm ci`, npm runs
// postinstall BEFORE prepare (tsc), so dist/ may not exist yet. Here it does nothing (and must not fail); in a project
// that installs wsgi-httpd as a dependency it hands over to dist/scripts/postinstall.js, which builds the stack.
// Configuration: WSGI_HTTPD_* environment variables only (see README, "npm install (postinstall)").
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const env = process.env;
const say = (line) => process.stdout.write(`wsgi-httpd: ${line}\n`);
const real = (path) => {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
};

async function main() {
  if (env.WSGI_HTTPD_SKIP_BUILD === '1') {
    say('WSGI_HTTPD_SKIP_BUILD=1: the Apache/mod_wsgi stack was not built; build it with: npx wsgi-toolchain build --prefix DIR');
    return 0;
  }
  // `npm ci` / `npm install` in a checkout of this repository (a git work tree, or npm started in the package root):
  // a developer install, not a user's; building the stack here would make every checkout take minutes.
  const ownCheckout = existsSync(join(root, '.git')) || (Boolean(env.INIT_CWD) && real(env.INIT_CWD) === real(root));
  if (ownCheckout) {
    say('postinstall in the wsgi-httpd checkout itself: nothing to build (run `npx wsgi-toolchain build --prefix DIR`)');
    return 0;
  }
  const target = join(root, 'dist', 'scripts', 'postinstall.js');
  if (!existsSync(target)) {
    say(`not built: ${target} is missing (an incomplete package); reinstall wsgi-httpd, or run: npx wsgi-toolchain build --prefix DIR`);
    return env.WSGI_HTTPD_FORCE_BUILD === '1' ? 1 : 0;
  }
  const { runPostinstall } = await import(pathToFileURL(target).href);
  return runPostinstall(env);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`wsgi-httpd: postinstall failed unexpectedly: ${error?.stack ?? error}\n`);
    process.exitCode = env.WSGI_HTTPD_FORCE_BUILD === '1' ? 70 : 0;
  },
);
