/** The RPC names of a generated service, so a per-method table fails to compile when one is missing. */
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';

/** Local (camelCase) method names of the generated service `S` (e.g. `"createPackage"`). */
export type MethodNames<S> = S extends GenService<infer M extends GenServiceMethods> ? keyof M & string : never;
