/**
 * Start-up configuration: token sources, the generated dev and internal tokens (0600, reused on the
 * next start), and the environment parser's errors naming the bad variable.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTokensEnv, parseTokensJson, createTokenStore } from '../../control-plane/auth/token-store.ts';
import { parseBoolean, parseListen, runControlPlaneFromEnv } from '../../control-plane/main.ts';
import { startControlPlane } from '../../control-plane/server/control-plane-server.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'as-start-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('tokens', () => {
  it('parses the env form and the JSON file form, naming the bad entry', () => {
    expect(parseTokensEnv('ci:jenkins:abcdefghijklmnop1234, assess:board:tok:with:colons:0123')).toEqual([
      { tenant: 'ci', name: 'jenkins', token: 'abcdefghijklmnop1234', admin: false },
      { tenant: 'assess', name: 'board', token: 'tok:with:colons:0123', admin: false },
    ]);
    expect(() => parseTokensEnv('ci:jenkins:short')).toThrow(/ARTIFACTSTORE_TOKENS entry 1\.token/);
    expect(() => parseTokensEnv('bad tenant:x:abcdefghijklmnop1234')).toThrow(/entry 1\.tenant/);
    expect(parseTokensJson('[{"token":"abcdefghijklmnop1234","tenant":"ops","name":"me","admin":true}]', 'f')).toEqual([{ token: 'abcdefghijklmnop1234', tenant: 'ops', name: 'me', admin: true }]);
    expect(() => parseTokensJson('{', 'tokens.json')).toThrow(/tokens\.json: not valid JSON/);
    expect(() => parseTokensJson('[{"token":"abcdefghijklmnop1234","tenant":"ops"}]', 'tokens.json')).toThrow(/tokens\.json\[0\]\.name/);
    expect(() => createTokenStore([...parseTokensEnv('a:x:abcdefghijklmnop1234'), ...parseTokensEnv('b:y:abcdefghijklmnop1234')])).toThrow(/configured twice/);
  });

  it('generates an admin dev token and an internal token on first start (0600) and reuses them', async () => {
    const dataDir = await tempDir();
    const lines: string[] = [];
    const first = await startControlPlane({ host: '127.0.0.1', port: 0, dataDir, database: { kind: 'pglite' }, log: (l) => lines.push(l) });
    try {
      expect(first.adminToken).toMatch(/^as_[A-Za-z0-9_-]{43}$/);
      expect((await readFile(join(dataDir, 'dev-token'), 'utf8')).trim()).toBe(first.adminToken);
      expect((await stat(join(dataDir, 'dev-token'))).mode & 0o777).toBe(0o600);
      expect((await stat(join(dataDir, 'internal-token'))).mode & 0o777).toBe(0o600);
      expect(lines.join('\n')).toContain(first.adminToken);
      const client = createClient(RegistryService, createConnectTransport({ baseUrl: first.url, httpVersion: '1.1', interceptors: [(next) => (req) => (req.header.set('authorization', `Bearer ${first.adminToken}`), next(req))] }));
      const pkg = await client.createPackage({ producer: 'p', subject: 's', retentionClass: 'transient' });
      expect(pkg.package?.packageId).toMatch(/^pkg_/);
    } finally {
      await first.close();
    }
    const second = await startControlPlane({ host: '127.0.0.1', port: 0, dataDir, database: { kind: 'pglite' } });
    try {
      expect(second.adminToken).toBe(first.adminToken);
      expect(second.internalToken).toBe(first.internalToken);
    } finally {
      await second.close();
    }
    // Configured tokens replace the dev token.
    const third = await startControlPlane({ host: '127.0.0.1', port: 0, dataDir, database: { kind: 'pglite' }, tokensEnv: 'ci:x:abcdefghijklmnop1234' });
    expect(third.adminToken).toBeUndefined();
    await third.close();
  });
});

describe('runControlPlaneFromEnv', () => {
  it('names the bad variable', async () => {
    expect(() => parseListen('localhost', 'ARTIFACTSTORE_LISTEN')).toThrow(/ARTIFACTSTORE_LISTEN must be HOST:PORT/);
    expect(() => parseListen('1.2.3.4:70000', 'ARTIFACTSTORE_LISTEN')).toThrow(/ARTIFACTSTORE_LISTEN/);
    expect(parseListen('[::1]:8000', 'X')).toEqual({ host: '::1', port: 8000 });
    expect(() => parseBoolean('maybe', 'ARTIFACTSTORE_ANON_READ', false)).toThrow(/ARTIFACTSTORE_ANON_READ must be true or false/);
    const dataDir = await tempDir();
    const log = (): void => {};
    await expect(runControlPlaneFromEnv({ ARTIFACTSTORE_DATA_DIR: dataDir, ARTIFACTSTORE_LISTEN: 'nope' }, log)).rejects.toThrow(/ARTIFACTSTORE_LISTEN/);
    await expect(runControlPlaneFromEnv({ ARTIFACTSTORE_DATA_DIR: dataDir, ARTIFACTSTORE_DATABASE_URL: 'mysql://x' }, log)).rejects.toThrow(/ARTIFACTSTORE_DATABASE_URL/);
    await expect(runControlPlaneFromEnv({ ARTIFACTSTORE_DATA_DIR: dataDir, ARTIFACTSTORE_INTERNAL_TOKEN: 'short' }, log)).rejects.toThrow(/ARTIFACTSTORE_INTERNAL_TOKEN/);
    await expect(runControlPlaneFromEnv({ ARTIFACTSTORE_DATA_DIR: dataDir, ARTIFACTSTORE_TOKENS_FILE: join(dataDir, 'missing.json') }, log)).rejects.toThrow(/ARTIFACTSTORE_TOKENS_FILE/);
    await writeFile(join(dataDir, 'bad.json'), '[1]');
    await expect(runControlPlaneFromEnv({ ARTIFACTSTORE_DATA_DIR: dataDir, ARTIFACTSTORE_TOKENS_FILE: join(dataDir, 'bad.json') }, log)).rejects.toThrow(/ARTIFACTSTORE_TOKENS_FILE.*\[0\]/);
  });

  it('starts from a valid environment with embedded PGlite in the data dir', async () => {
    const dataDir = await tempDir();
    const cp = await runControlPlaneFromEnv({ ARTIFACTSTORE_DATA_DIR: dataDir, ARTIFACTSTORE_LISTEN: '127.0.0.1:0', ARTIFACTSTORE_ANON_READ: 'true', ARTIFACTSTORE_INTERNAL_TOKEN: 'internal-token-0123456789' }, () => {});
    try {
      expect(cp.internalToken).toBe('internal-token-0123456789');
      const res = await fetch(`${cp.url}/healthz`);
      expect(res.status).toBe(200);
      // Anonymous reads are open.
      const list = await fetch(`${cp.url}/artifactstore.v1.RegistryService/ListPackages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(list.status).toBe(200);
      expect((await stat(join(dataDir, 'pglite'))).isDirectory()).toBe(true);
    } finally {
      await cp.close();
    }
  });
});
