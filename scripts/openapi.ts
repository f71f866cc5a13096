/**
 * Regenerates the committed copy of the OpenAPI document, openapi/openapi.json:
 *
 *   npm run openapi
 *
 * The document is the one the server serves at GET /api/openapi.json, from the real
 * app built on an in-memory SQLite database with fixed throwaway secrets and otherwise
 * default configuration (the environment is not read, so every machine writes the same
 * file). Keys are sorted and the JSON is indented, so a diff shows exactly what changed.
 * test/openapi.test.ts fails when the committed copy is stale.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/index.ts';
import { openDatabase } from '../src/db/index.ts';
import { buildApp } from '../src/app.ts';

export const OPENAPI_FILE = new URL('../openapi/openapi.json', import.meta.url);

/** Configuration for the generator: defaults plus fixed, throwaway secrets. */
export function generatorEnv(dataDir: string): Record<string, string> {
  return {
    NEO_DATA_DIR: dataDir,
    NEO_DATABASE_URL: ':memory:',
    NEO_JWT_SECRET: 'openapi-generator-jwt-secret-0123456789abcdef',
    NEO_MASTER_KEY: Buffer.alloc(32, 1).toString('base64'),
    NEO_INTERNAL_TOKEN: 'openapi-generator-internal-token-0123456789',
    NEO_LOG_LEVEL: 'silent',
    // A one-shot generator: no load shedding (a busy machine would turn it into a 503), no re-check rounds.
    NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    NEO_KEY_RECHECK: 'off',
  };
}

/** The document the server serves, fetched through the real route. */
export async function servedOpenApi(): Promise<unknown> {
  const dataDir = mkdtempSync(join(tmpdir(), 'neo-openapi-'));
  try {
    const config = loadConfig(generatorEnv(dataDir));
    const database = await openDatabase(config.databaseUrl);
    try {
      const app = await buildApp({ config, database, quiet: true });
      try {
        const res = await app.inject({ method: 'GET', url: '/api/openapi.json' });
        if (res.statusCode !== 200) throw new Error(`GET /api/openapi.json answered ${res.statusCode}`);
        return res.json();
      } finally {
        await app.close();
      }
    } finally {
      await database.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** The committed form: keys sorted at every level (arrays keep their order), 2-space indent. */
export function renderOpenApi(doc: unknown): string {
  return JSON.stringify(sortKeys(doc), null, 2) + '\n';
}

async function main(): Promise<void> {
  const doc = await servedOpenApi();
  writeFileSync(OPENAPI_FILE, renderOpenApi(doc));
  const paths = Object.keys((doc as { paths?: object }).paths ?? {}).length;
  process.stdout.write(`wrote ${OPENAPI_FILE.pathname} (${paths} paths)\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`openapi: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
