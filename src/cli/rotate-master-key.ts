/**
 * `neo-byok admin rotate-master-key --new-key <base64|@file>`: the CLI side of
 * src/crypto/rotate.ts (argument parsing, progress display, exit codes).
 */
import { readFileSync } from 'node:fs';
import { masterKeyId } from '../crypto/envelope.ts';
import type { RotateProgress } from '../crypto/rotate.ts';
import { CliError, type CliIo, parseArgs, printJson } from './io.ts';
import { openRuntime } from './runtime.ts';

// DEFAULT_BATCH_SIZE of src/crypto/rotate.ts (not imported: that module loads the database
// layer, and this help text is read by `neo-byok --help`; test/build.test.ts keeps them equal).
export const HELP_DEFAULT_BATCH_SIZE = 500;

export const ROTATE_HELP = `Usage: neo-byok admin rotate-master-key --new-key <base64|@file> [--batch-size N] [--max-batches N] [--force]

Rewraps every data key under a new master key, in batches, while servers keep
running. Provider-key ciphertexts are not touched. Steps (docs/security.md):

  1. Generate a key:  openssl rand -base64 32 > new.key   (keep it secret)
  2. Restart every server with NEO_MASTER_KEY=<new> and NEO_MASTER_KEY_PREVIOUS=<old>.
  3. Run this command with the same environment: neo-byok admin rotate-master-key --new-key @new.key
  4. When it prints "complete": true, remove NEO_MASTER_KEY_PREVIOUS and restart.

--new-key      the new 32-byte key in base64, or @path of a file holding it
               (prefer @file: a key on the command line lands in shell history)
--batch-size   rows per transaction (default ${HELP_DEFAULT_BATCH_SIZE}, 1 to 10000)
--max-batches  stop after N batches (a partial run; run again to resume)
--force        rewrap even though NEO_MASTER_KEY here is not the new key (step 2
               skipped); servers left with only the old key then cannot start

Refused (exit 1, nothing changed) when NEO_MASTER_KEY in this environment is not
the --new-key: do step 2 first (NEO_MASTER_KEY=<new>, NEO_MASTER_KEY_PREVIOUS=<old>
on every server and here), or pass --force. The keys that wrapped existing data keys
are taken from NEO_MASTER_KEY and NEO_MASTER_KEY_PREVIOUS. Interrupting is safe: every batch commits on its own, rows
already under the new key are skipped, and a rerun continues. When every data key is
under the new key, the master key check value is replaced, so servers then start
with the new key alone. Then every provider key still in an older ciphertext format
(v1: its location was not sealed with it) is rewritten in the current one; running the
command with the current key as --new-key does only that. Prints {"master_key_id",
"total", "already_rotated", "rewrapped", "failed", "remaining", "complete",
"check_updated", "ciphertexts_upgraded", "ciphertexts_failed", "signing_keys_resealed",
"signing_keys_failed"} (the last two: the OIDC issuer's signing keys, resealed under the
new key); a progress bar on a terminal (stderr), a plain progress line per batch
otherwise. Exit 0 when complete or stopped by --max-batches, 1 when a data key, an
older provider key or a signing key could not be rewritten (tampered row).`;

function parseCount(value: string | boolean | undefined, name: string, def: number | undefined, max: number): number | undefined {
  if (value === undefined) return def;
  if (typeof value !== 'string' || !/^\d{1,6}$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new CliError(`--${name} must be a whole number between 1 and ${max}`, 2);
  }
  return Number(value);
}

/** Reads `--new-key`: base64 text, or `@path` of a file that holds it. */
export async function readNewKey(value: string | boolean | undefined): Promise<Buffer> {
  if (typeof value !== 'string' || value === '') throw new CliError('--new-key is required (base64 of 32 bytes, or @file)', 2);
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (err) {
      throw new CliError(`cannot read the key file ${value.slice(1, 200)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, 2);
    }
  }
  const { masterKey } = await import('../config/index.ts');
  try {
    return masterKey(text);
  } catch (err) {
    throw new CliError(`--new-key ${(err as Error).message}`, 2);
  }
}

function progressPrinter(io: CliIo): { update(p: RotateProgress): void; end(): void } {
  let drewBar = false;
  return {
    update(p) {
      const pct = p.total === 0 ? 100 : Math.min(100, Math.floor((p.done / p.total) * 100));
      if (io.isTTY) {
        const width = 30;
        const filled = Math.round((pct / 100) * width);
        io.stderr(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(pct).padStart(3)}% ${p.done}/${p.total} data keys${p.failed ? `, ${p.failed} failed` : ''}`);
        drewBar = true;
      } else {
        io.stderr(`rotate-master-key: ${p.done}/${p.total} data keys under the new key (${pct}%), ${p.rewrapped} rewrapped by this run, ${p.failed} failed\n`);
      }
    },
    end() {
      if (drewBar) io.stderr('\n');
    },
  };
}

/**
 * Why a rotation whose environment does not have the new key as NEO_MASTER_KEY is refused,
 * and exactly what to configure first (docs/security.md "Rotating the master key", step 2).
 * Names keys by id only (a hash prefix), never by value.
 */
export function stepTwoMissing(newKey: Buffer, masterKey: Buffer, masterKeyPrevious: Buffer | undefined): string {
  const swapped = masterKeyPrevious?.equals(newKey) === true;
  return [
    swapped
      ? `refused: NEO_MASTER_KEY and NEO_MASTER_KEY_PREVIOUS are swapped: the new key (id ${masterKeyId(newKey)}) is NEO_MASTER_KEY_PREVIOUS here.`
      : `refused: NEO_MASTER_KEY here (id ${masterKeyId(masterKey)}) is not the new key (id ${masterKeyId(newKey)}): step 2 of the rotation was skipped.`,
    'Rewrapping now would leave every server that still has only the old key as NEO_MASTER_KEY unable to start.',
    'Configure first, on every server (a rolling restart is fine) and in the environment of this command:',
    `  NEO_MASTER_KEY=<the new key>            (id ${masterKeyId(newKey)}, the --new-key value)`,
    `  NEO_MASTER_KEY_PREVIOUS=<the old key>   (today's NEO_MASTER_KEY; here id ${masterKeyId(masterKey)})`,
    'then run this command again. Nothing was changed. To rewrap anyway, add --force (docs/security.md "Rotating the master key").',
  ].join('\n');
}

export async function rotateMasterKeyCommand(argv: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(argv, { 'new-key': 'string', 'batch-size': 'string', 'max-batches': 'string', force: 'boolean' });
  if (positional.length) throw new CliError(`unexpected argument "${positional[0]!.slice(0, 60)}"`, 2);
  const newKey = await readNewKey(flags['new-key']);
  const { rotateMasterKey, RotationError, DEFAULT_BATCH_SIZE } = await import('../crypto/rotate.ts');
  const batchSize = parseCount(flags['batch-size'], 'batch-size', DEFAULT_BATCH_SIZE, 10_000)!;
  const maxBatches = parseCount(flags['max-batches'], 'max-batches', undefined, 1_000_000);
  // Checked before the database is opened: a refused run changes nothing.
  const { ensureSecrets, loadConfig } = await import('../config/index.ts');
  ensureSecrets(io.env);
  const { masterKey, masterKeyPrevious, azureAllowedHosts } = loadConfig(io.env);
  if (!newKey.equals(masterKey)) {
    if (flags.force !== true) throw new CliError(stepTwoMissing(newKey, masterKey, masterKeyPrevious), 1);
    io.stderr(
      `rotate-master-key: warning (--force): NEO_MASTER_KEY here is not the new key; once every data key is rewrapped, servers without NEO_MASTER_KEY=<new key> (id ${masterKeyId(newKey)}) refuse to start\n`,
    );
  }
  const rt = await openRuntime(io, {});
  try {
    const printer = progressPrinter(io);
    let result;
    try {
      result = await rotateMasterKey({
        db: rt.database.db,
        newKey,
        oldKeys: [masterKey, ...(masterKeyPrevious ? [masterKeyPrevious] : [])],
        batchSize,
        ...(maxBatches !== undefined ? { maxBatches } : {}),
        onProgress: (p) => printer.update(p),
        azureAllowedHosts,
      });
    } catch (err) {
      if (err instanceof RotationError) throw new CliError(err.message, 1);
      throw err;
    } finally {
      printer.end();
    }
    printJson(io, result);
    if (result.failed.length) {
      io.stderr(
        `rotate-master-key: ${result.failed.length} data keys could not be rewrapped (tampered or moved rows); their provider keys show as unreadable and must be replaced\n`,
      );
      return 1;
    }
    if (result.ciphertexts_failed.length) {
      io.stderr(
        `rotate-master-key: ${result.ciphertexts_failed.length} provider keys of the older format could not be rewritten (tampered rows, or an Azure endpoint that fails the host rules); they are left as they are and must be replaced\n`,
      );
      return 1;
    }
    if (result.signing_keys_failed.length) {
      io.stderr(
        `rotate-master-key: ${result.signing_keys_failed.length} OIDC signing keys could not be resealed (tampered rows); replace them with \`neo-byok admin oidc rotate-key\`\n`,
      );
      return 1;
    }
    return 0;
  } finally {
    await rt.close();
  }
}
