/**
 * `npm run test:seed-dev`: the seed workflow tests against a prefix you built (WSGI_HTTPD_DEV_PREFIX), for working on
 * them without a cold build; in the e2e tier they run after each real build. Not part of `npm test`.
 */
import test from 'ava';
import { registerSeedWorkflowTests } from '../e2e/seed-workflow.js';

const prefix = process.env.WSGI_HTTPD_DEV_PREFIX;
if (!prefix) throw new Error('set WSGI_HTTPD_DEV_PREFIX to a prefix built with wsgi-toolchain build (and WSGI_HTTPD_DEV_PYTHON to its Python)');
registerSeedWorkflowTests(test, () => ({
  prefix,
  sources: process.env.WSGI_HTTPD_REAL_SOURCES ?? `${process.env.HOME}/.cache/wsgi-httpd/test-sources`,
  python: process.env.WSGI_HTTPD_DEV_PYTHON ?? '/usr/bin/python3',
  buildArgs: (process.env.WSGI_HTTPD_DEV_BUILD_ARGS ?? '').split(' ').filter(Boolean),
  env: process.env,
}));
