// Child process for the directory-lock test: takes the lock of argv[2], holds it argv[3] ms, prints
// "held <start ms> <end ms>" (or "refused"), releases it.
import { lockDirectory, DirectoryLockedError } from '../../control-plane/db/directory-lock.ts';
import { createSystemClock } from '../../core/time/clock.ts';

const clock = createSystemClock();

const [directory = '', holdText = '0'] = process.argv.slice(2);
try {
  const lock = await lockDirectory(directory);
  const start = clock.now().getTime();
  await new Promise((resolve) => setTimeout(resolve, Number(holdText)));
  const end = clock.now().getTime();
  await lock.release();
  process.stdout.write(`held ${start} ${end}\n`);
} catch (error) {
  if (!(error instanceof DirectoryLockedError)) throw error;
  process.stdout.write('refused\n');
}
