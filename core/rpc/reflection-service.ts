/**
 * `grpc.reflection.v1.ServerReflection` (anonymous) so grpcurl and `buf curl` can call either process
 * without local .proto files. Answers from the descriptors of the services the caller says it serves:
 * a file is sent with all its transitive imports, each serialized FileDescriptorProto once per stream.
 * Only `v1` is served (grpcurl ≥ 1.8.8 and `buf curl` use it); see ADR 0007.
 */
import { create, toBinary, type DescFile, type DescMethod, type DescMethodBiDiStreaming, type DescService, type Message } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type { ConnectRouter } from '@connectrpc/connect';
import { ServerReflectionResponseSchema, ServerReflectionService } from './grpc-descriptors.ts';

// Fields of ServerReflectionRequest (descriptors are built at run time, so messages are generic).
type ReflectionRequest = Message & {
  host?: string;
  messageRequest?: { case: string | undefined; value?: unknown };
};

const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;

function allFiles(roots: readonly DescFile[]): Map<string, DescFile> {
  const out = new Map<string, DescFile>();
  const visit = (f: DescFile): void => {
    if (out.has(f.proto.name)) return;
    out.set(f.proto.name, f);
    f.dependencies.forEach(visit);
  };
  roots.forEach(visit);
  return out;
}

/** Every symbol declared in `file` (messages, enums, services, methods, nested types). */
function symbolsOf(file: DescFile): string[] {
  const out: string[] = [];
  const pkg = file.proto.package === '' ? '' : `${file.proto.package}.`;
  for (const s of file.services) out.push(s.typeName, ...s.methods.map((m) => `${s.typeName}.${m.name}`));
  const walkMessage = (names: string[], prefix: string, proto: { name: string; nestedType: { name: string }[]; enumType: { name: string }[] }): void => {
    const name = `${prefix}${proto.name}`;
    names.push(name);
    for (const e of proto.enumType) names.push(`${name}.${e.name}`);
    for (const n of proto.nestedType) walkMessage(names, `${name}.`, n as typeof proto);
  };
  for (const m of file.proto.messageType) walkMessage(out, pkg, m);
  for (const e of file.proto.enumType) out.push(`${pkg}${e.name}`);
  return out;
}

/** Registers ServerReflection on `router`, describing `services` (plus itself). */
export function registerReflectionService(router: ConnectRouter, services: readonly DescService[]): void {
  const served = [...services, ServerReflectionService];
  const files = allFiles(served.map((s) => s.file));
  const bySymbol = new Map<string, DescFile>();
  for (const f of files.values()) for (const sym of symbolsOf(f)) bySymbol.set(sym, f);

  const method: DescMethod | undefined = ServerReflectionService.methods[0];
  if (method?.methodKind !== 'bidi_streaming') throw new Error('reflection descriptor mismatch');

  router.rpc<DescMethodBiDiStreaming>(method as DescMethodBiDiStreaming, async function* (requests) {
    const sent = new Set<string>();
    for await (const raw of requests) {
      const req = raw as ReflectionRequest;
      const kind = req.messageRequest?.case;
      const value = req.messageRequest?.value;
      const reply = (response: Record<string, unknown>): Message => create(ServerReflectionResponseSchema, { validHost: req.host ?? '', originalRequest: raw, messageResponse: response });
      const error = (code: number, message: string): Message => reply({ case: 'errorResponse', value: { errorCode: code, errorMessage: message } });
      const fileResponse = (file: DescFile | undefined, what: string): Message => {
        if (file === undefined) return error(NOT_FOUND, `${what} not found`);
        const protos: Uint8Array[] = [];
        for (const f of allFiles([file]).values()) {
          if (sent.has(f.proto.name) && f !== file) continue;
          sent.add(f.proto.name);
          protos.push(toBinary(FileDescriptorProtoSchema, f.proto));
        }
        return reply({ case: 'fileDescriptorResponse', value: { fileDescriptorProto: protos } });
      };
      switch (kind) {
        case 'listServices':
          yield reply({ case: 'listServicesResponse', value: { service: served.map((s) => ({ name: s.typeName })) } });
          break;
        case 'fileByFilename':
          yield fileResponse(files.get(String(value)), `file ${String(value)}`);
          break;
        case 'fileContainingSymbol':
          yield fileResponse(bySymbol.get(String(value).replace(/^\./, '')), `symbol ${String(value)}`);
          break;
        case 'allExtensionNumbersOfType':
          yield reply({ case: 'allExtensionNumbersResponse', value: { baseTypeName: String(value), extensionNumber: [] } });
          break;
        case 'fileContainingExtension':
          yield error(NOT_FOUND, 'no extensions are declared');
          break;
        default:
          yield error(UNIMPLEMENTED, `unsupported reflection request ${String(kind)}`);
      }
    }
  });
}
