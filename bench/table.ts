/**
 * Plain-text table formatting for benchmark output: fixed-width columns, numbers right-aligned, so runs
 * can be diffed and pasted into ADRs.
 */

/** One column: a header and how to align its cells. */
export interface TableColumn {
  /** Header text. */
  readonly header: string;
  /** `right` for numbers. Default `left`. */
  readonly align?: 'left' | 'right';
}

/** Formats `rows` (already stringified cells, one per column) under `columns`, with a rule under the header. */
export function formatTable(columns: readonly TableColumn[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((column, i) => Math.max(column.header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    columns
      .map((column, i) => {
        const cell = cells[i] ?? '';
        const width = widths[i] ?? 0;
        return column.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.header)), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}
