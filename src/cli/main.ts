/**
 * `neo-byok` command line. JSON on stdout, errors on stderr with a non-zero exit,
 * `--help` on every command. Commands read the same configuration and data dir as
 * `serve`, so they work beside a running server.
 */
import { ConfigError } from '../config/index.ts';
import { commands, type Command } from './commands.ts';
import { CliError, type CliIo, defaultIo } from './io.ts';

const TOP_HELP = `Usage: neo-byok <command> [options]

Commands:
${''}`;

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
  return `${TOP_HELP}${lines.join('\n')}\n\nRun \`neo-byok <command> --help\` for a command's options.\n`;
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout(usage());
    return argv.length === 0 ? 2 : 0;
  }
  const { cmd, rest } = findCommand(argv);
  if (!cmd) {
    // A group word alone (e.g. `admin`) lists its commands.
    const group = commands.filter((c) => argv.length > 0 && c.path.slice(0, argv.length).join(' ') === argv.join(' '));
    if (group.length) {
      io.stdout(group.map((c) => `  ${c.path.join(' ').padEnd(28)} ${c.summary}`).join('\n') + '\n');
      return rest.includes('--help') ? 0 : 2;
    }
    io.stderr(`neo-byok: unknown command "${argv.join(' ').slice(0, 80)}"\n\n${usage()}`);
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
