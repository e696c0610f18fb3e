// What the CLI says when --url does not lead to a control plane: the URL, and what --url expects.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Code } from '@connectrpc/connect';
import { expect, it } from 'vitest';
import { openConnection } from '../../cli/client/connection.ts';

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
