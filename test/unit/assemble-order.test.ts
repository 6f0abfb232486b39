/** Which layer assemble places first: the Python package's, when that cannot change the stack. */
import test from 'ava';
import { placementOrder, refuseThroughLinks } from '../../src/pipeline/assemble.js';
import type { ManifestEntry } from '../../src/store/manifest.js';
import type { StoredLayer } from '../../src/store/store.js';

function layer(component: string, files: ManifestEntry[]): StoredLayer {
  return {
    record: { component, version: '1.0', key: 'f'.repeat(64), files } as StoredLayer['record'],
    dir: `/s/${component}`,
    tree: `/s/${component}/tree`,
    lastUsed: new Date(0),
  };
}
const dir = (path: string, mode = 0o755): ManifestEntry => ({ path, type: 'dir', mode });
const file = (path: string): ManifestEntry => ({ path, type: 'file', mode: 0o644, size: 1, sha256: '0'.repeat(64) });
const link = (path: string, target: string): ManifestEntry => ({ path, type: 'symlink', mode: 0o777, target });

const httpd = layer('httpd', [dir('modules'), file('modules/mod_so.so'), dir('bin'), file('bin/httpd')]);
const apr = layer('apr', [dir('lib'), file('lib/libapr-1.so')]);
const names = (layers: StoredLayer[]) => layers.map((l) => l.record.component);

test('the package layer goes first when it shares only directories of the same mode', (t) => {
  const modWsgi = layer('mod_wsgi', [dir('modules'), file('modules/mod_wsgi.so'), dir('python'), file('python/x.py')]);
  t.deepEqual(names(placementOrder([apr, httpd, modWsgi], 'mod_wsgi')), ['mod_wsgi', 'apr', 'httpd']);
});

test('the stack order stays when another layer has a file at one of its paths, or the same directory with another mode', (t) => {
  const sameFile = layer('mod_wsgi', [dir('modules'), file('modules/mod_so.so')]);
  t.deepEqual(names(placementOrder([apr, httpd, sameFile], 'mod_wsgi')), ['apr', 'httpd', 'mod_wsgi']);
  const otherMode = layer('mod_wsgi', [dir('modules', 0o700), file('modules/mod_wsgi.so')]);
  t.deepEqual(names(placementOrder([apr, httpd, otherMode], 'mod_wsgi')), ['apr', 'httpd', 'mod_wsgi']);
  const fileForDir = layer('mod_wsgi', [file('bin')]);
  t.deepEqual(names(placementOrder([apr, httpd, fileForDir], 'mod_wsgi')), ['apr', 'httpd', 'mod_wsgi']);
});

test('no package layer, or no component named: the stack order', (t) => {
  t.deepEqual(names(placementOrder([apr, httpd], 'mod_wsgi')), ['apr', 'httpd']);
  t.deepEqual(names(placementOrder([apr, httpd], undefined)), ['apr', 'httpd']);
});

test('no entry may lie below a link of its own layer or an earlier one (two layers spliced to write through a link)', (t) => {
  const none = () => false;
  const links = new Set<string>();
  refuseThroughLinks(layer('apr', [dir('lib'), file('lib/libapr-1.so'), link('out', '/tmp/elsewhere')]), none, links);
  t.throws(() => refuseThroughLinks(layer('httpd', [dir('bin'), file('out/precious')]), none, links), {
    message: /layer httpd .* is damaged or was tampered with: out\/precious lies below out, a symbolic link in the stack/,
  });
  t.throws(() => refuseThroughLinks(layer('httpd', [dir('out')]), none, new Set(links)), {
    message: /out is a directory where the stack has a symbolic link/,
  });
  t.throws(() => refuseThroughLinks(layer('pcre2', [link('l', 'lib'), file('l/x')]), none, new Set()), { message: /l\/x lies below l/ });
  t.notThrows(() => refuseThroughLinks(layer('mod_wsgi', [dir('modules'), file('modules/mod_wsgi.so'), link('lib/x.so', 'x.so.1')]), none, links));
});
