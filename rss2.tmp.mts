const r0 = process.memoryUsage().rss;
await import('/work/main/cli/main.ts');
console.log('cli/main.ts import adds', ((process.memoryUsage().rss - r0) / 1048576).toFixed(0), 'MiB');
for (const m of ['/work/main/cli/commands/db-commands.ts', '/work/main/cli/commands/copy-events.ts', '/work/main/cli/commands/storage.ts', '/work/main/cli/commands/guide-board.ts']) {}
