// What the CLI says when --url does not lead to a control plane: the URL, and what --url expects.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Code, ConnectError } from '@connectrpc/connect';
import { expect, it } from 'vitest';
import { openConnection } from '../../cli/client/connection.ts';
import { failureLine, runCli } from '../../cli/main.ts';

it('names the URL and says it takes the control plane when a server answers 404 (a data plane, say)', async () => {
  const other = createServer((_req, res) => res.writeHead(404, { 'content-type': 'application/problem+json' }).end('{"code":"route-not-found"}'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  try {
    const conn = await openConnection({ url, token: 't', env: {} });
    await expect(conn.registry.listPackages({})).rejects.toMatchObject({
      code: Code.Unimplemented,
      rawMessage: `${url} does not serve artifactstore.v1.RegistryService (HTTP 404): --url and ARTIFACTSTORE_URL take the control plane's URL (port 8000 by default), not a data plane's`,
    });
  } finally {
    await new Promise((resolve) => other.close(resolve));
  }
  const conn = await openConnection({ url, token: 't', env: {} });
  await expect(conn.retention.getRetention({ packageId: 'pkg_x' })).rejects.toMatchObject({
    code: Code.Unavailable,
    rawMessage: expect.stringMatching(new RegExp(`^cannot reach the control plane at ${url} \\(.*ECONNREFUSED.*\\); is it running\\?`)) as unknown,
  });
});

it('prints one error line: the stable reason, then the message without Connect\'s or the service\'s prefixes', () => {
  const served = new ConnectError('[not-found] package pkg_nope not found', Code.NotFound, { 'artifactstore-reason': 'not-found' });
  expect(served.message).toBe('[not_found] [not-found] package pkg_nope not found'); // what used to be printed after "error: "
  expect(failureLine(served)).toBe('error [not-found]: package pkg_nope not found');
  expect(failureLine(new ConnectError('HTTP 502', Code.Unavailable))).toBe('error [unavailable]: HTTP 502');
  expect(failureLine(Object.assign(new Error('x.txt exists; pass --force to overwrite'), { code: 'exists' }))).toBe('error [exists]: x.txt exists; pass --force to overwrite');
  expect(failureLine(new Error('plain'))).toBe('error: plain');
});

it('ls prints no table header when the call fails', async () => {
  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: () => undefined, progress: () => undefined, env: {} };
  await expect(runCli(['ls', '--url', 'http://127.0.0.1:9', '--token', 't'], io)).rejects.toMatchObject({ code: Code.Unavailable });
  expect(out).toEqual([]);
});
