/**
 * The newest set CI can obtain, chosen by --tested: httpd 2.4.68, APR 1.7.6 (the default), APR-util 1.6.4, PCRE2
 * 10.48, mod_wsgi 6.0.5 (the default; from its upstream git tag through an overlay recipe that pins that archive's
 * sha256). Built for real, verified, and the whole seed workflow run on it.
 */
import { registerRealStack } from './real-stack.js';

registerRealStack({
  label: 'mod_wsgi 6.0.5 set (--tested)',
  select: ['--tested'],
  overlays: ['test/e2e/overlays/mod_wsgi-git-tag'],
  expect: { httpd: '2.4.68', apr: '1.7.6', aprUtil: '1.6.4', pcre2: '10.48', modWsgi: '6.0.5' },
});
