/**
 * `neo-byok admin export` / `admin import`: move a deployment between databases
 * (SQLite → PostgreSQL) with a verbatim JSON-lines dump (src/db/dump.ts).
 */
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { CliError, type CliIo, type Command, parseArgs, printJson } from './io.ts';
import { openRuntime } from './runtime.ts';

const EXPORT_HELP = `Usage: neo-byok admin export [--output <file>]

Writes every row of every table of NEO_DATABASE_URL as JSON lines (stdout, or <file>
created with mode 0600), from one consistent snapshot; a running server keeps working
meanwhile. Provider keys stay encrypted: the dump holds ciphertexts, wrapped data keys
and API key hashes, never a plaintext secret; still, treat it as sensitive.
A summary {"exported": {table: rows}} goes to stderr.

Move SQLite to PostgreSQL (see docs/deployment.md):
  neo-byok admin export > dump.jsonl
  NEO_DATABASE_URL=postgres://… neo-byok admin import < dump.jsonl`;

const IMPORT_HELP = `Usage: neo-byok admin import [--input <file>]

Reads a dump made by \`neo-byok admin export\` (stdin, or <file>) into NEO_DATABASE_URL,
which must be a new database (migrated here if needed; no users, keys or teams yet).
All rows are written in one transaction: on any error nothing is imported.
The dump must come from the same neo-byok version (same migrations), and the servers
on the new database need the same NEO_MASTER_KEY, or the provider keys cannot be
decrypted. Prints {"imported": {table: rows}}.`;

export const dumpCommands: Command[] = [
  {
    path: ['admin', 'export'],
    summary: 'Dump the whole database as JSON lines (to move to PostgreSQL)',
    help: EXPORT_HELP,
    run: async (argv, io) => {
      const { flags, positional } = parseArgs(argv, { output: 'string' });
      if (positional.length) throw new CliError(`unexpected argument "${positional[0]!.slice(0, 60)}"`, 2);
      // Loaded on demand, like every command's implementation (src/cli/commands.ts).
      const [{ DumpError, exportDatabase }, { redactDatabaseUrl }] = await Promise.all([import('../db/dump.ts'), import('../db/index.ts')]);
      const rt = await openRuntime(io);
      let fd: number | undefined;
      try {
        if (typeof flags.output === 'string') {
          try {
            fd = openSync(flags.output, 'wx', 0o600);
          } catch (err) {
            throw new CliError(`cannot create ${flags.output}: ${(err as NodeJS.ErrnoException).code ?? String(err)} (it must not exist yet)`);
          }
        }
        const out = fd;
        const write = out === undefined ? (text: string) => io.stdout(text) : (text: string) => void writeSync(out, text);
        const counts = await exportDatabase(rt.database.db, rt.database.dialect, write);
        io.stderr(JSON.stringify({ exported: counts, from: redactDatabaseUrl(rt.config.databaseUrl) }) + '\n');
        return 0;
      } catch (err) {
        if (err instanceof DumpError) throw new CliError(err.message);
        throw err;
      } finally {
        if (fd !== undefined) closeSync(fd);
        await rt.close();
      }
    },
  },
  {
    path: ['admin', 'import'],
    summary: 'Load a dump from `admin export` into a new database',
    help: IMPORT_HELP,
    run: async (argv, io) => {
      const { flags, positional } = parseArgs(argv, { input: 'string' });
      if (positional.length) throw new CliError(`unexpected argument "${positional[0]!.slice(0, 60)}"`, 2);
      const { DumpError, importDatabase } = await import('../db/dump.ts');
      const input = typeof flags.input === 'string' ? createReadStream(flags.input) : stdinOf(io);
      let rt: Awaited<ReturnType<typeof openRuntime>> | undefined;
      const lines = createInterface({ input, crlfDelay: Infinity });
      try {
        // Iterate from the start: lines arriving while the database opens are buffered.
        const iterator = lines[Symbol.asyncIterator]();
        rt = await openRuntime(io);
        const counts = await importDatabase(rt.database.db, { [Symbol.asyncIterator]: () => iterator });
        printJson(io, { imported: counts });
        return 0;
      } catch (err) {
        if (err instanceof DumpError) throw new CliError(err.message);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`cannot read ${String(flags.input)}: no such file`);
        throw err;
      } finally {
        // An unread input must not keep the process alive after a failure.
        lines.close();
        if ('destroy' in input && typeof input.destroy === 'function') input.destroy();
        await rt?.close();
      }
    },
  },
];

/** The process's stdin (CliIo carries no input stream). */
function stdinOf(_io: CliIo): NodeJS.ReadableStream {
  return process.stdin;
}
