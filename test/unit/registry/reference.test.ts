import test from 'ava';
import { UsageError } from '../../../src/errors.js';
import { formatReference, isLoopbackHost, parseReference } from '../../../src/registry/reference.js';

const hex = 'a'.repeat(64);

test('references as registries spell them', (t) => {
  t.deepEqual(parseReference('ghcr.io/owner/wsgi-httpd-layers:httpd-2.4.68'), {
    host: 'ghcr.io',
    repository: 'owner/wsgi-httpd-layers',
    tag: 'httpd-2.4.68',
  });
  t.deepEqual(parseReference('localhost:5000/layers'), { host: 'localhost:5000', repository: 'layers' });
  t.deepEqual(parseReference('localhost/a/b/c'), { host: 'localhost', repository: 'a/b/c' });
  t.deepEqual(parseReference('127.0.0.1:5000/a_b/c__d/e--f.g:T_1.x-y'), { host: '127.0.0.1:5000', repository: 'a_b/c__d/e--f.g', tag: 'T_1.x-y' });
  t.deepEqual(parseReference(`[::1]:5000/x@sha256:${hex}`), { host: '[::1]:5000', repository: 'x', digest: `sha256:${hex}` });
  t.deepEqual(parseReference(`Registry.Example.COM/x:v1@sha256:${hex}`), {
    host: 'registry.example.com',
    repository: 'x',
    tag: 'v1',
    digest: `sha256:${hex}`,
  });
  t.is(formatReference(parseReference(`ghcr.io/o/r:t@sha256:${hex}`)), `ghcr.io/o/r:t@sha256:${hex}`);
  t.is(formatReference(parseReference('ghcr.io/o/r')), 'ghcr.io/o/r');
});

const refusals: [string, string, RegExp, RegExp][] = [
  ['no host', 'owner/repo:tag', /does not start with a registry host/, /must contain a "\." or ":" or be localhost/],
  ['docker hub shorthand', 'ubuntu', /does not start with a registry host/, /HOST\[:PORT\]\/REPOSITORY/],
  ['upper case', 'ghcr.io/Owner/Repo', /upper-case/, /use owner\/repo/],
  ['bad component', 'ghcr.io/owner/-repo', /"-repo" is not a valid repository path component/, /lower-case letters and digits/],
  ['empty component', 'ghcr.io/owner//repo', /"" is not a valid/, /joined by/],
  ['no repository', 'ghcr.io/', /has no repository/, /HOST\[:PORT\]/],
  ['bad tag', 'ghcr.io/o/r:.hidden', /invalid tag "\.hidden"/, /1 to 128 characters/],
  ['long tag', `ghcr.io/o/r:${'t'.repeat(129)}`, /invalid tag/, /1 to 128/],
  ['bad digest', 'ghcr.io/o/r@sha256:abc', /malformed digest/, /64 lower-case hex/],
  ['other algorithm', `ghcr.io/o/r@sha512:${hex}`, /malformed digest/, /sha256:/],
  ['scheme', 'https://ghcr.io/o/r', /starts with a URL scheme/, /drop the scheme \(ghcr\.io\/o\/r\)/],
  ['bad port', 'localhost:99999/r', /invalid host.*port must be 1-65535/, /HOST\[:PORT\]/],
  ['bad host', 'bad_host.example/r', /invalid host/, /HOST\[:PORT\]/],
  ['bad IPv6', '[zz::1]:80/r', /not an IPv6 address/, /HOST/],
  ['white space', 'ghcr.io/o/r :t', /white space/, /HOST/],
  ['too long', `ghcr.io/${'a'.repeat(250)}`, /longer than 255/, /shorter/],
];

for (const [name, ref, message, hint] of refusals) {
  test(`refused with the problem and the fix: ${name}`, (t) => {
    const error = t.throws(() => parseReference(ref), { instanceOf: UsageError });
    t.regex(error!.message, message);
    t.regex(error!.hint, hint);
    t.is(error!.exitCode, 2);
    t.false(error!.message.includes('\n'));
  });
}

test('loopback is decided by name: localhost, 127.0.0.0/8, ::1 (also IPv4-mapped)', (t) => {
  for (const host of ['localhost', 'localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000', '[::ffff:127.0.0.1]:80', 'LOCALHOST:1']) {
    t.true(isLoopbackHost(host), host);
  }
  for (const host of ['ghcr.io', '10.0.0.1:5000', '128.0.0.1', '[::2]:5000', 'localhost.example.com', 'my-localhost:5000', 'vm:5000']) {
    t.false(isLoopbackHost(host), host);
  }
});
