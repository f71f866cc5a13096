/** What the CLI needs before any command runs, without loading the schema (TypeBox, Ajv). */
export type Env = Record<string, string | undefined>;

/** Every configuration problem at once; the CLI prints it and exits 78. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The process environment (the CLI passes it to loadConfig). */
export function processEnv(): Env {
  return process.env;
}
