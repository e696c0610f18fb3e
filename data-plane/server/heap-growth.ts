/**
 * V8's old-generation growth for a data-plane process (ADR 0015).
 *
 * node:http hands every body chunk over in a fresh 64 KiB buffer, so a 1 GiB upload allocates 16,384
 * ArrayBuffers. V8 counts their bytes as external memory until a scavenge frees them (one runs every
 * ~32 MiB of them), and starts a full, incremental marking when old-generation objects plus external
 * memory allocated since the last mark-compact come within the young generation's capacity of the
 * old-generation limit. With V8's own growing factor the limit sits ~24 MB above a data plane's ~13 MB
 * heap, less than the ~32 MiB of short-lived buffers between two scavenges plus a 16 MiB young
 * generation: once in that state the process marked its whole heap every 20–60 ms for the rest of its
 * life, ~0.6 CPU-seconds per GiB on V8's helper threads, about half of all benchmark runs.
 *
 * A fixed growing factor of 6× puts the limit far enough above the live heap; the heap itself does not
 * grow (the buffers die young), and `--max-old-space-size` still bounds it. The flag also replaces V8's
 * minimal and conservative growing modes, so the memory reducer no longer lowers the limit after idle
 * time: watch the data plane's RSS (166 MiB peak over a 4 GiB ingest when this was set).
 */
import { setFlagsFromString } from 'node:v8';

/** The factor, as V8's flag takes it: limit = (1 + percent / 100) × live old-generation size. */
export const DATA_PLANE_HEAP_GROWING_PERCENT = 500;

/**
 * Sets V8's heap growing factor for this process. V8 reads the flag each time it recomputes the limit
 * (after every mark-compact), so setting it at start-up, before the first upload, is in time. Process-wide:
 * call it only from a data-plane process's entry point.
 */
export function setDataPlaneHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${DATA_PLANE_HEAP_GROWING_PERCENT}`);
}
