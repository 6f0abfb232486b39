import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../src/errors.js';
import { credentialsFromDockerConfig, dockerConfigFile, findCredentials, normalizeAuthsKey } from '../../../src/registry/credentials.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');
let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wsgi-creds-'));
});
test.after.always(() => rm(dir, { recursive: true, force: true }));

test('auths keys are matched without scheme, path and case', (t) => {
  t.is(normalizeAuthsKey('https://GHCR.io/v1/'), 'ghcr.io');
  t.is(normalizeAuthsKey('http://127.0.0.1:5000'), '127.0.0.1:5000');
  t.is(normalizeAuthsKey('localhost:5000'), 'localhost:5000');
  const config = JSON.stringify({
    auths: {
      'https://127.0.0.1:5000/v1/': { auth: b64('alice:pa:ss') },
      'ghcr.io': { username: 'bob', password: 'ghp_x' },
      'https://index.docker.io/v1/': { auth: b64('carol:hub') },
    },
  });
  t.deepEqual(credentialsFromDockerConfig(config, 'cfg', '127.0.0.1:5000'), { username: 'alice', password: 'pa:ss', source: 'cfg' });
  t.deepEqual(credentialsFromDockerConfig(config, 'cfg', 'GHCR.IO'), { username: 'bob', password: 'ghp_x', source: 'cfg' });
  t.deepEqual(credentialsFromDockerConfig(config, 'cfg', 'registry-1.docker.io'), { username: 'carol', password: 'hub', source: 'cfg' });
  t.is(credentialsFromDockerConfig(config, 'cfg', '127.0.0.1:5001'), undefined);
});

test('credential helpers and identity tokens are reported and ignored', (t) => {
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);
  t.is(credentialsFromDockerConfig(JSON.stringify({ auths: { 'ghcr.io': {} }, credsStore: 'desktop' }), 'cfg', 'ghcr.io', log), undefined);
  t.is(credentialsFromDockerConfig(JSON.stringify({ credHelpers: { 'https://ghcr.io': 'gh' } }), 'cfg', 'ghcr.io', log), undefined);
  t.is(credentialsFromDockerConfig(JSON.stringify({ auths: { 'ghcr.io': { identitytoken: 'secret-id-token' } } }), 'cfg', 'ghcr.io', log), undefined);
  t.regex(lines[0]!, /docker-credential-desktop, which is not supported; set WSGI_HTTPD_REGISTRY_USER\/WSGI_HTTPD_REGISTRY_PASSWORD/);
  t.regex(lines[1]!, /docker-credential-gh/);
  t.regex(lines[2]!, /identity token/);
  t.false(lines.join('\n').includes('secret-id-token'));
});

test('a broken config is a UsageError that does not quote the file', (t) => {
  const secret = 'hunter2-in-the-file';
  const error = t.throws(() => credentialsFromDockerConfig(`{"auths": {"x": {"auth": "${secret}"`, '/home/u/.docker/config.json', 'x'), {
    instanceOf: UsageError,
  });
  t.is(error!.message, '/home/u/.docker/config.json is not valid JSON');
  const bad = t.throws(() => credentialsFromDockerConfig(JSON.stringify({ auths: { 'a.io': { auth: b64(secret) } } }), 'cfg', 'a.io'), {
    instanceOf: UsageError,
  });
  t.regex(bad!.message, /the "auth" of "a\.io" is not base64 of user:password/);
  t.false(`${bad!.message} ${bad!.hint}`.includes(secret));
});

test('env variables win over the config file; DOCKER_CONFIG overrides ~/.docker; one variable alone is refused', async (t) => {
  const home = join(dir, 'home');
  await mkdir(join(home, '.docker'), { recursive: true });
  await writeFile(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'r.example': { auth: b64('home-user:home-pw') } } }));
  const other = join(dir, 'other');
  await mkdir(other, { recursive: true });
  await writeFile(join(other, 'config.json'), JSON.stringify({ auths: { 'r.example': { auth: b64('other-user:other-pw') } } }));

  t.is(dockerConfigFile({ HOME: home }), join(home, '.docker', 'config.json'));
  t.like(await findCredentials('r.example', { HOME: home }), { username: 'home-user', password: 'home-pw' });
  t.like(await findCredentials('r.example', { HOME: home, DOCKER_CONFIG: other }), { username: 'other-user', password: 'other-pw' });
  t.like(await findCredentials('r.example', { HOME: home, WSGI_HTTPD_REGISTRY_USER: 'env-user', WSGI_HTTPD_REGISTRY_PASSWORD: 'env-pw' }), {
    username: 'env-user',
    password: 'env-pw',
    source: 'WSGI_HTTPD_REGISTRY_USER/WSGI_HTTPD_REGISTRY_PASSWORD',
  });
  t.is(await findCredentials('r.example', { HOME: join(dir, 'nowhere') }), undefined);
  const error = await t.throwsAsync(findCredentials('r.example', { HOME: home, WSGI_HTTPD_REGISTRY_PASSWORD: 'only-pw' }), {
    instanceOf: UsageError,
  });
  t.is(error!.message, 'WSGI_HTTPD_REGISTRY_PASSWORD is set but WSGI_HTTPD_REGISTRY_USER is not');
  t.false(`${error!.message} ${error!.hint}`.includes('only-pw'));
});
