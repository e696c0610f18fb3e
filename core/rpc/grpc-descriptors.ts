/**
 * Descriptors of the two standard gRPC services both processes serve for tooling (grpcurl,
 * `buf curl`, load-balancer probes): `grpc.health.v1.Health` and `grpc.reflection.v1.ServerReflection`.
 * No npm package provides them for connect-es v2, and their upstream .proto files do not pass
 * `buf lint` STANDARD (names like `HealthCheckRequest`), so they are built here with the descriptor
 * API from the upstream definitions (grpc/grpc-proto, same field numbers and names).
 */
import { create, createFileRegistry, type DescMessage, type DescService, type MessageInitShape } from '@bufbuild/protobuf';
import { FieldDescriptorProto_Label as Label, FieldDescriptorProto_Type as Type, FileDescriptorProtoSchema, type FieldDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';

type FieldInit = { name: string; number: number; type: Type; typeName?: string; repeated?: boolean; oneofIndex?: number };

function fields(pkg: string, list: FieldInit[]): MessageInitShape<typeof FieldDescriptorProtoSchema>[] {
  return list.map((f) => ({
    name: f.name,
    number: f.number,
    type: f.type,
    label: f.repeated === true ? Label.REPEATED : Label.OPTIONAL,
    jsonName: f.name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
    ...(f.typeName === undefined ? {} : { typeName: `.${pkg}.${f.typeName}` }),
    ...(f.oneofIndex === undefined ? {} : { oneofIndex: f.oneofIndex }),
  }));
}

const HEALTH = 'grpc.health.v1';
const healthFile = create(FileDescriptorProtoSchema, {
  name: 'grpc/health/v1/health.proto',
  package: HEALTH,
  syntax: 'proto3',
  messageType: [
    { name: 'HealthCheckRequest', field: fields(HEALTH, [{ name: 'service', number: 1, type: Type.STRING }]) },
    {
      name: 'HealthCheckResponse',
      field: fields(HEALTH, [{ name: 'status', number: 1, type: Type.ENUM, typeName: 'HealthCheckResponse.ServingStatus' }]),
      enumType: [{ name: 'ServingStatus', value: [{ name: 'UNKNOWN', number: 0 }, { name: 'SERVING', number: 1 }, { name: 'NOT_SERVING', number: 2 }, { name: 'SERVICE_UNKNOWN', number: 3 }] }],
    },
  ],
  service: [
    {
      name: 'Health',
      method: [
        { name: 'Check', inputType: `.${HEALTH}.HealthCheckRequest`, outputType: `.${HEALTH}.HealthCheckResponse` },
        { name: 'Watch', inputType: `.${HEALTH}.HealthCheckRequest`, outputType: `.${HEALTH}.HealthCheckResponse`, serverStreaming: true },
      ],
    },
  ],
});

const REFL = 'grpc.reflection.v1';
const reflectionFile = create(FileDescriptorProtoSchema, {
  name: 'grpc/reflection/v1/reflection.proto',
  package: REFL,
  syntax: 'proto3',
  messageType: [
    {
      name: 'ServerReflectionRequest',
      field: fields(REFL, [
        { name: 'host', number: 1, type: Type.STRING },
        { name: 'file_by_filename', number: 3, type: Type.STRING, oneofIndex: 0 },
        { name: 'file_containing_symbol', number: 4, type: Type.STRING, oneofIndex: 0 },
        { name: 'file_containing_extension', number: 5, type: Type.MESSAGE, typeName: 'ExtensionRequest', oneofIndex: 0 },
        { name: 'all_extension_numbers_of_type', number: 6, type: Type.STRING, oneofIndex: 0 },
        { name: 'list_services', number: 7, type: Type.STRING, oneofIndex: 0 },
      ]),
      oneofDecl: [{ name: 'message_request' }],
    },
    {
      name: 'ExtensionRequest',
      field: fields(REFL, [
        { name: 'containing_type', number: 1, type: Type.STRING },
        { name: 'extension_number', number: 2, type: Type.INT32 },
      ]),
    },
    {
      name: 'ServerReflectionResponse',
      field: fields(REFL, [
        { name: 'valid_host', number: 1, type: Type.STRING },
        { name: 'original_request', number: 2, type: Type.MESSAGE, typeName: 'ServerReflectionRequest' },
        { name: 'file_descriptor_response', number: 4, type: Type.MESSAGE, typeName: 'FileDescriptorResponse', oneofIndex: 0 },
        { name: 'all_extension_numbers_response', number: 5, type: Type.MESSAGE, typeName: 'ExtensionNumberResponse', oneofIndex: 0 },
        { name: 'list_services_response', number: 6, type: Type.MESSAGE, typeName: 'ListServiceResponse', oneofIndex: 0 },
        { name: 'error_response', number: 7, type: Type.MESSAGE, typeName: 'ErrorResponse', oneofIndex: 0 },
      ]),
      oneofDecl: [{ name: 'message_response' }],
    },
    { name: 'FileDescriptorResponse', field: fields(REFL, [{ name: 'file_descriptor_proto', number: 1, type: Type.BYTES, repeated: true }]) },
    {
      name: 'ExtensionNumberResponse',
      field: fields(REFL, [
        { name: 'base_type_name', number: 1, type: Type.STRING },
        { name: 'extension_number', number: 2, type: Type.INT32, repeated: true },
      ]),
    },
    { name: 'ListServiceResponse', field: fields(REFL, [{ name: 'service', number: 1, type: Type.MESSAGE, typeName: 'ServiceResponse', repeated: true }]) },
    { name: 'ServiceResponse', field: fields(REFL, [{ name: 'name', number: 1, type: Type.STRING }]) },
    {
      name: 'ErrorResponse',
      field: fields(REFL, [
        { name: 'error_code', number: 1, type: Type.INT32 },
        { name: 'error_message', number: 2, type: Type.STRING },
      ]),
    },
  ],
  service: [
    {
      name: 'ServerReflection',
      method: [{ name: 'ServerReflectionInfo', inputType: `.${REFL}.ServerReflectionRequest`, outputType: `.${REFL}.ServerReflectionResponse`, clientStreaming: true, serverStreaming: true }],
    },
  ],
});

/** The registry holding both files (also what reflection serves for them). */
export const grpcToolingRegistry = createFileRegistry(createFileRegistry(healthFile, () => undefined), createFileRegistry(reflectionFile, () => undefined));

function service(name: string): DescService {
  const s = grpcToolingRegistry.getService(name);
  if (s === undefined) throw new Error(`descriptor ${name} missing`);
  return s;
}

function message(name: string): DescMessage {
  const m = grpcToolingRegistry.getMessage(name);
  if (m === undefined) throw new Error(`descriptor ${name} missing`);
  return m;
}

/** `grpc.health.v1.Health`. */
export const HealthService = service(`${HEALTH}.Health`);
/** `grpc.health.v1.HealthCheckResponse`. */
export const HealthCheckResponseSchema = message(`${HEALTH}.HealthCheckResponse`);
/** `grpc.reflection.v1.ServerReflection`. */
export const ServerReflectionService = service(`${REFL}.ServerReflection`);
/** `grpc.reflection.v1.ServerReflectionResponse`. */
export const ServerReflectionResponseSchema = message(`${REFL}.ServerReflectionResponse`);
