/**
 * A typed `@grpc/grpc-js` client built from the same generated protobuf-es descriptors the Connect
 * clients and the server use (`gen/artifactstore/v1/*_pb.ts`), for Node callers that already run
 * grpc-js: no `.proto` loading at run time, no second code generator. Messages on the wire are
 * `toBinary`/`fromBinary` of the generated schemas, so responses are the same generated message
 * types a Connect client returns. Unary and server-streaming methods only (the services here have
 * no client-streaming methods); calls take a grpc-js `Metadata` and an `AbortSignal`.
 */
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
} from '@bufbuild/protobuf';
import { Client, Metadata, type CallOptions, type ChannelCredentials, type ChannelOptions, type MethodDefinition, type ServiceDefinition } from '@grpc/grpc-js';

/** Per-call options. */
export interface GrpcJsCallOptions {
  /** Sent after (and overriding keys of) the client's default metadata. */
  readonly metadata?: Metadata;
  /** Aborting cancels the call; the promise rejects / the iteration throws with status CANCELLED (1). */
  readonly signal?: AbortSignal;
  /** Absolute deadline; past it the call fails with DEADLINE_EXCEEDED (4). */
  readonly deadline?: Date;
}

/**
 * The typed calls of service `S`, keyed like a Connect `Client<S>` (the method's `localName`, e.g.
 * `createPackage`): unary methods return a promise of the response message, server-streaming
 * methods an async iterable of them; other kinds are `never`. Failures are grpc-js `ServiceError`s
 * (`code` is the gRPC status number, e.g. 16 for UNAUTHENTICATED).
 */
export type GrpcJsCalls<S extends DescService> = {
  [P in keyof S['method']]: S['method'][P] extends DescMethodUnary<infer I, infer O>
    ? (request: MessageInitShape<I>, options?: GrpcJsCallOptions) => Promise<MessageShape<O>>
    : S['method'][P] extends DescMethodServerStreaming<infer I, infer O>
      ? (request: MessageInitShape<I>, options?: GrpcJsCallOptions) => AsyncIterable<MessageShape<O>>
      : never;
};

/** A typed grpc-js client: the calls, plus `close()` and the underlying grpc-js `Client`. */
export type GrpcJsClient<S extends DescService> = GrpcJsCalls<S> & {
  /** The grpc-js client (channel state, `waitForReady`). */
  readonly grpcClient: Client;
  /** Closes the channel (later calls fail at once). Safe to call twice. */
  close(): void;
};

/** Options of {@link createGrpcJsClient}. */
export interface GrpcJsClientOptions {
  /** A grpc-js target, e.g. `127.0.0.1:8000` (not a URL). */
  readonly address: string;
  /** e.g. `credentials.createInsecure()` for h2c, `credentials.createSsl()` for TLS. */
  readonly credentials: ChannelCredentials;
  /** Sent with every call, e.g. `authorization: Bearer <token>`. */
  readonly metadata?: Metadata;
  readonly channelOptions?: Partial<ChannelOptions>;
}

type AnyMethodDefinition = MethodDefinition<MessageShape<DescMessage>, MessageShape<DescMessage>>;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function methodDefinition(service: DescService, method: DescMethod): AnyMethodDefinition {
  return {
    path: `/${service.typeName}/${method.name}`,
    requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
    responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
    requestSerialize: (message) => toBuffer(toBinary(method.input, message)),
    requestDeserialize: (bytes) => fromBinary(method.input, bytes),
    responseSerialize: (message) => toBuffer(toBinary(method.output, message)),
    responseDeserialize: (bytes) => fromBinary(method.output, bytes),
    originalName: method.localName,
  };
}

/**
 * The grpc-js `ServiceDefinition` of a protobuf-es service descriptor, keyed by the proto method name
 * (`CreatePackage`, as `@grpc/proto-loader` does). Usable with `makeGenericClientConstructor` (an
 * untyped callback client) or `Server.addService`.
 */
export function createGrpcJsServiceDefinition(service: DescService): ServiceDefinition {
  return Object.fromEntries(service.methods.map((m) => [m.name, methodDefinition(service, m)]));
}

function callMetadata(defaults: Metadata | undefined, extra: Metadata | undefined): Metadata {
  const md = defaults?.clone() ?? new Metadata();
  for (const key of Object.keys(extra?.getMap() ?? {})) {
    md.remove(key);
    for (const value of extra?.get(key) ?? []) md.add(key, value);
  }
  return md;
}

function callOptions(options: GrpcJsCallOptions): CallOptions {
  return options.deadline === undefined ? {} : { deadline: options.deadline };
}

/** Cancels `call` when `signal` aborts; returns the listener's removal. */
function cancelOn(signal: AbortSignal | undefined, call: { cancel(): void }): () => void {
  if (signal === undefined) return () => undefined;
  const onAbort = (): void => call.cancel();
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/**
 * A typed grpc-js client for `service` (a generated `GenService`, e.g. `RegistryService`). Throws
 * if a method's `localName` is `close` or `grpcClient` (it would shadow the client's own members).
 */
export function createGrpcJsClient<S extends DescService>(service: S, options: GrpcJsClientOptions): GrpcJsClient<S> {
  const grpcClient = new Client(options.address, options.credentials, options.channelOptions);
  const calls: Record<string, unknown> = {};
  for (const method of service.methods) {
    if (method.localName === 'close' || method.localName === 'grpcClient') throw new Error(`method ${method.name} of ${service.typeName} clashes with a client member`);
    const def = methodDefinition(service, method);
    if (method.methodKind === 'unary') {
      calls[method.localName] = (request: MessageInitShape<DescMessage>, call: GrpcJsCallOptions = {}) =>
        new Promise<MessageShape<DescMessage>>((resolve, reject) => {
          let release = (): void => undefined;
          const pending = grpcClient.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, create(method.input, request), callMetadata(options.metadata, call.metadata), callOptions(call), (error, response) => {
            release();
            if (error !== null) reject(error);
            else if (response === undefined) reject(new Error(`${def.path}: no response message`));
            else resolve(response);
          });
          release = cancelOn(call.signal, pending);
        });
    } else if (method.methodKind === 'server_streaming') {
      calls[method.localName] = async function* (request: MessageInitShape<DescMessage>, call: GrpcJsCallOptions = {}): AsyncGenerator<MessageShape<DescMessage>> {
        const stream = grpcClient.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, create(method.input, request), callMetadata(options.metadata, call.metadata), callOptions(call));
        const release = cancelOn(call.signal, stream);
        // A Readable in object mode: its iterator yields what responseDeserialize returned.
        const messages: AsyncIterable<MessageShape<DescMessage>> = stream;
        try {
          yield* messages;
        } finally {
          release();
          // Ends the HTTP/2 stream when the caller stops early (break/return); a no-op once ended.
          stream.cancel();
        }
      };
    }
  }
  let closed = false;
  const members = {
    grpcClient,
    close(): void {
      if (closed) return;
      closed = true;
      grpcClient.close();
    },
  };
  // The loop above gave every unary / server-streaming method its call under its localName, which is
  // exactly what the mapped type GrpcJsCalls<S> describes; TypeScript cannot follow that through a loop.
  return Object.assign(calls, members) as GrpcJsClient<S>;
}
