import { processEnv } from '../config/index.ts';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** Whether stderr is a terminal (progress bars). */
  isTTY: boolean;
}

export function defaultIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: processEnv(),
    isTTY: Boolean(process.stderr.isTTY),
  };
}

/** A user-facing CLI failure: printed to stderr, exits non-zero. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Parses `--flag value`, `--flag=value` and boolean `--flag`; positional args are kept in order. */
export function parseArgs(
  argv: string[],
  spec: Record<string, 'string' | 'boolean'>,
): { flags: Record<string, string | boolean>; positional: string[] } {
  const flags: Record<string, string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      const kind = spec[name];
      if (!kind) throw new CliError(`unknown option --${name}`, 2);
      if (kind === 'boolean') {
        flags[name] = true;
      } else {
        const v = inline ?? argv[++i];
        if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new CliError(`--${name} needs a value`, 2);
        flags[name] = v;
      }
    } else {
      positional.push(a);
    }
  }
  return { flags, positional };
}

export function printJson(io: CliIo, value: unknown): void {
  io.stdout(JSON.stringify(value) + '\n');
}

/** One `neo-byok` command: its words, its one-line summary, its help and what it runs. */
export interface Command {
  path: string[];
  summary: string;
  help: string;
  run(argv: string[], io: CliIo): Promise<number>;
}
