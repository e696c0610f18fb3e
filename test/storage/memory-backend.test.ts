// The in-memory backend runs the shared StorageBackend contract, with the local backend's answers to
// its open questions so higher-level tests using it behave as they would on disk.
import { createMemoryBackend } from '../../data-plane/storage/memory/memory-backend.ts';
import { describeStorageBackend } from './backend.contract.ts';

describeStorageBackend(
  'memory',
  () => {
    const backend = createMemoryBackend({ id: 'memory-test' });
    return Promise.resolve({
      backend,
      leftovers: () => Promise.resolve([...backend.storedKeys(), ...Array.from({ length: backend.stagedCount() }, (_, index) => `staged #${index}`)]),
      cleanup: () => Promise.resolve(),
    });
  },
  { reportsCapacity: false, nestedKeys: 'rejected' },
);
