import test from 'ava';
import { challengeScopes, parseWwwAuthenticate } from '../../../src/registry/challenge.js';

test('GHCR / distribution Bearer challenge: realm, service, scope with commas inside quotes', (t) => {
  const [challenge, ...rest] = parseWwwAuthenticate(
    'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:owner/layers:pull,push"',
  );
  t.deepEqual(rest, []);
  t.deepEqual(challenge, {
    scheme: 'bearer',
    params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:owner/layers:pull,push' },
  });
  t.deepEqual(challengeScopes(challenge!), ['repository:owner/layers:pull,push']);
});

test('error parameter, several scopes, spaces around "=" and ",", escapes, case-insensitive names', (t) => {
  const [challenge] = parseWwwAuthenticate(
    'bearer  Realm = "https://auth.docker.io/token" , service="registry.docker.io",scope="repository:a:pull repository:b:pull",error="insufficient_scope",note="say \\"hi\\""',
  );
  t.is(challenge!.scheme, 'bearer');
  t.is(challenge!.params.realm, 'https://auth.docker.io/token');
  t.is(challenge!.params.error, 'insufficient_scope');
  t.is(challenge!.params.note, 'say "hi"');
  t.deepEqual(challengeScopes(challenge!), ['repository:a:pull', 'repository:b:pull']);
});

test('several challenges in one header; Basic with a token value; token68', (t) => {
  const challenges = parseWwwAuthenticate('Basic realm=registry, Bearer realm="https://r/token",service=svc, Negotiate abc+/==');
  t.deepEqual(
    challenges.map((c) => c.scheme),
    ['basic', 'bearer', 'negotiate'],
  );
  t.deepEqual(challenges[0]!.params, { realm: 'registry' });
  t.deepEqual(challenges[1]!.params, { realm: 'https://r/token', service: 'svc' });
  t.is(challenges[2]!.token68, 'abc+/==');
});

test('distribution htpasswd challenge, bare scheme, empty and garbage headers', (t) => {
  t.deepEqual(parseWwwAuthenticate('Basic realm="basic-realm"'), [{ scheme: 'basic', params: { realm: 'basic-realm' } }]);
  t.deepEqual(parseWwwAuthenticate('Basic'), [{ scheme: 'basic', params: {} }]);
  t.deepEqual(parseWwwAuthenticate(''), []);
  t.deepEqual(parseWwwAuthenticate('"quoted"'), []);
  t.deepEqual(challengeScopes({ scheme: 'bearer', params: {} }), []);
});
