/**
 * What the transport-neutral file operations (`write-file.ts`, `read-file.ts`, `upload-sessions.ts`)
 * need; both edges (HTTP routes and the gRPC service) hold one of these.
 */
import type { HashSessionSource } from '../../core/identity/dual-hasher.ts';
import type { ControlClient } from '../control/control-client.ts';
import type { StorageBackend } from '../storage/backend.ts';

/** Dependencies of every file operation. */
export interface DataPlaneDeps {
  /** The internal control-plane client (authorization, recording, sessions). */
  readonly control: ControlClient;
  /** The default backend: new files go here unless the control plane routes them elsewhere. */
  readonly backend: StorageBackend;
  /** Every configured backend by id, the default included (see `backend-choice.ts`); absent: only `backend`. */
  readonly backends?: ReadonlyMap<string, StorageBackend>;
  readonly hashPool: HashSessionSource;
  /** Largest file accepted, in bytes (single-shot, gRPC and session total alike). */
  readonly maxUploadBytes: number;
  /** Where log lines go. */
  readonly log: (line: string) => void;
}

/** Who is asking: the client's bearer token, forwarded to the control plane (`''`: none given). */
export interface Caller {
  readonly token: string;
}
