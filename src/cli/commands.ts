/** The command table of `neo-byok`. Each command has a summary, a --help text and a runner. */
import { migrateToLatest } from '../db/index.ts';
import { type CliIo, parseArgs, printJson } from './io.ts';
import { openRuntime } from './runtime.ts';
import { serveCommand } from './serve.ts';

export interface Command {
  path: string[];
  summary: string;
  help: string;
  run(argv: string[], io: CliIo): Promise<number>;
}

export const commands: Command[] = [
  {
    path: ['serve'],
    summary: 'Start the HTTP server (what `npm start` runs)',
    help: `Usage: neo-byok serve

Starts the API server and the settings page. Configuration comes from the environment
(see docs/configuration.md): PORT, HOST, NEO_DATA_DIR, NEO_DATABASE_URL, ...
SIGTERM or SIGINT stops accepting connections, finishes in-flight requests and exits 0.`,
    run: async (argv, io) => {
      parseArgs(argv, {});
      return serveCommand(io);
    },
  },
  {
    path: ['migrate'],
    summary: 'Apply pending database migrations and exit',
    help: `Usage: neo-byok migrate

Applies every pending migration to NEO_DATABASE_URL (SQLite or PostgreSQL) and prints
{"applied": [names]}. Safe to run while servers are up and from several hosts at once.`,
    run: async (argv, io) => {
      parseArgs(argv, {});
      const rt = await openRuntime(io, { migrate: false });
      try {
        const applied = await migrateToLatest(rt.database.db);
        printJson(io, { applied });
        return 0;
      } finally {
        await rt.close();
      }
    },
  },
];
