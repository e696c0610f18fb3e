/**
 * A one-line progress bar for terminals: `[########------------]  40%  4000/10000 files  16.4 MB`.
 * Pure formatting; `CommandIo.progress` decides whether and where it is drawn (stderr, TTY only).
 */

const WIDTH = 24;

/** Human size in SI units (the figures users compare with `ls -l --si` and transfer rates). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit] ?? ''}`;
}

/** The bar for `done` of `total` items (and, optionally, bytes moved so far). */
export function progressBar(done: number, total: number, noun: string, bytes?: number): string {
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(fraction * WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}]`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${bar} ${percent}  ${done}/${total} ${noun}${bytes === undefined ? '' : `  ${formatBytes(bytes)}`}`;
}
