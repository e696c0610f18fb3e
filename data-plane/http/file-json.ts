/**
 * JSON bodies of the byte routes use the protobuf JSON mapping with the proto field names
 * (`file_id`, `relative_path`, …), matching the snake_case request bodies of `POST /uploads`.
 */
import { toJson, type JsonValue } from '@bufbuild/protobuf';
import { FileSchema, type File } from '../../gen/artifactstore/v1/package_pb.ts';

/** A file as the JSON the byte routes return (sizes are strings, as the protobuf JSON mapping has it). */
export function fileJson(file: File): JsonValue {
  return toJson(FileSchema, file, { useProtoFieldName: true });
}
