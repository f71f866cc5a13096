import { parseArgs as nodeParseArgs } from 'node:util';
import { processEnv } from '../config/error.ts';

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

/**
 * Parses `--flag value`, `--flag=value` and boolean `--flag` with node:util's parseArgs
 * (strict); positional args are kept in order. Its errors become exit-2 CliErrors.
 */
export function parseArgs(
  argv: string[],
  spec: Record<string, 'string' | 'boolean'>,
): { flags: Record<string, string | boolean>; positional: string[] } {
  try {
    const { values, positionals } = nodeParseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(spec).map(([name, type]) => [name, { type }])),
      allowPositionals: true,
      strict: true,
    });
    return { flags: values as Record<string, string | boolean>, positional: positionals };
  } catch (err) {
    const { code, message } = err as { code?: string; message?: string };
    const option = /'(-[^' ]*)/.exec(message ?? '')?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new CliError(`unknown option ${option}`, 2);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new CliError(/does not take an argument/.test(message ?? '') ? `${option} takes no value` : `${option} needs a value`, 2);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new CliError(message ?? 'unexpected argument', 2);
    throw err;
  }
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
