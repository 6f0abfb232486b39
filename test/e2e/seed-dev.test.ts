/**
 * Runs the seed workflow tests against an existing built prefix (WSGI_HTTPD_DEV_PREFIX) for development; the real
 * run is registered by real-build.test.ts after its build. Skipped unless the variable is set.
 */
import test from 'ava';
import { registerSeedWorkflowTests } from './seed-workflow.js';

const prefix = process.env.WSGI_HTTPD_DEV_PREFIX;
if (!prefix) test.skip('seed workflow on a dev prefix (skipped: set WSGI_HTTPD_DEV_PREFIX to a built prefix)', () => {});
else
  registerSeedWorkflowTests(test, () => ({
    prefix,
    sources: process.env.WSGI_HTTPD_REAL_SOURCES ?? `${process.env.HOME}/.cache/wsgi-httpd/test-sources`,
    python: process.env.WSGI_HTTPD_DEV_PYTHON ?? '/usr/bin/python3',
    buildArgs: (process.env.WSGI_HTTPD_DEV_BUILD_ARGS ?? '').split(' ').filter(Boolean),
    env: process.env,
  }));
