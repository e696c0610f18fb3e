import { expect, it } from 'vitest';
import { formatBytes, progressBar } from '../../cli/client/progress-bar.ts';

it('draws a fixed-width bar with percent, counts and size', () => {
  expect(progressBar(0, 10, 'files')).toBe('[------------------------]   0%  0/10 files');
  expect(progressBar(4, 10, 'files', 16_400_000)).toBe('[##########--------------]  40%  4/10 files  16.4 MB');
  expect(progressBar(10, 10, 'files', 999)).toBe('[########################] 100%  10/10 files  999 B');
  expect(progressBar(0, 0, 'files').endsWith('100%  0/0 files')).toBe(true);
});

it('formats sizes in SI units', () => {
  expect(formatBytes(0)).toBe('0 B');
  expect(formatBytes(1500)).toBe('1.5 kB');
  expect(formatBytes(2_000_000_000)).toBe('2.0 GB');
});
