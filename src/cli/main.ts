/**
 * `neo-byok` command line. JSON on stdout, errors on stderr with a non-zero exit,
 * `--help` on every command. Commands read the same configuration and data dir as
 * `serve`, so they work beside a running server.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/error.ts';
import { commands } from './commands.ts';
import { CliError, type CliIo, type Command, defaultIo } from './io.ts';

const TOP_HELP = `Usage: neo-byok <command> [options]

Output is JSON on stdout; errors go to stderr with a non-zero exit (1 failure,
2 usage error, 78 invalid configuration). Configuration comes from the same
environment as the server (docs/configuration.md).

Commands:
`;

function findCommand(argv: string[]): { cmd: Command | undefined; rest: string[]; path: string[] } {
  // Longest prefix of words that names a command.
  for (let n = Math.min(argv.length, 3); n > 0; n--) {
    const path = argv.slice(0, n);
    const cmd = commands.find((c) => c.path.join(' ') === path.join(' '));
    if (cmd) return { cmd, rest: argv.slice(n), path };
  }
  return { cmd: undefined, rest: argv, path: [] };
}

export function usage(): string {
  const lines = commands.map((c) => `  ${c.path.join(' ').padEnd(28)} ${c.summary}`);
  return `${TOP_HELP}${lines.join('\n')}\n\nRun \`neo-byok <command> --help\` for a command's options, \`neo-byok --version\` for the version.\n`;
}

/**
 * The version in package.json, read when asked: the nearest package.json above this file,
 * which is src/cli/ when run from the sources and dist/ when run from the build.
 */
export function version(): string {
  for (let dir = new URL('.', import.meta.url); ; dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'neo-byok' && pkg.version) return pkg.version;
    } catch {
      /* none here: look one level up */
    }
    if (dir.pathname === '/') return 'unknown';
  }
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  if (argv.length === 0) {
    io.stderr(usage());
    return 2;
  }
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout(usage());
    return 0;
  }
  if (argv[0] === '--version' || argv[0] === '-v') {
    io.stdout(`neo-byok ${version()}\n`);
    return 0;
  }
  const { cmd, rest } = findCommand(argv);
  if (!cmd) {
    // A group word (e.g. `admin`, `admin user`) lists its commands: on stdout with exit 0
    // for --help, on stderr with exit 2 when it stands alone (a command is missing).
    const help = argv.includes('--help') || argv.includes('-h');
    // The command words are the arguments before the first option; options and their values are not part of the name.
    const first = argv.findIndex((a) => a.startsWith('-'));
    const words = first < 0 ? argv : argv.slice(0, first);
    const group = commands.filter((c) => words.length > 0 && words.length < c.path.length && c.path.slice(0, words.length).join(' ') === words.join(' '));
    if (group.length) {
      const text = `Usage: neo-byok ${words.join(' ')} <command> [options]\n\nCommands:\n${group.map((c) => `  ${c.path.join(' ').padEnd(28)} ${c.summary}`).join('\n')}\n\nRun \`neo-byok <command> --help\` for a command's options.\n`;
      if (help) {
        io.stdout(text);
        return 0;
      }
      io.stderr(`neo-byok: "${words.join(' ')}" needs a command\n\n${text}`);
      return 2;
    }
    const what = words.length ? `unknown command "${words.join(' ').slice(0, 80)}"` : `expected a command before "${argv[0]!.slice(0, 40)}"`;
    io.stderr(`neo-byok: ${what}\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(cmd.help + '\n');
    return 0;
  }
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`neo-byok ${cmd.path.join(' ')}: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof ConfigError) {
      io.stderr(`neo-byok: ${err.message}\n`);
      return 78;
    }
    io.stderr(`neo-byok ${cmd.path.join(' ')}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
