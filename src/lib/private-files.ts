/**
 * Files only this user may read: the data directory (0700) and the SQLite database with
 * its -wal and -shm files (0600), whatever the umask and however the secrets are given.
 * They hold emails, the audit trail, hashes and ciphertexts (docs/security.md).
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';

const PRIVATE_FILE = 0o600;
export const PRIVATE_DIR = 0o700;

function chmodOwned(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (err) {
    // A file of another user (an operator's copy) is left alone: opening it still works.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  }
}

/** Creates a missing directory (and its parents) as 0700; an existing one is left as it is. */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
}

/**
 * Before SQLite opens `path`: creates the database file 0600 when missing (SQLite gives
 * its -wal and -shm files the database file's mode) and sets 0600 on the file and on
 * any -wal/-shm left from an earlier run. Call again after switching to WAL.
 */
export function makePrivateSqliteFiles(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'a', PRIVATE_FILE));
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    if (existsSync(p) && (statSync(p).mode & 0o777) !== PRIVATE_FILE) chmodOwned(p, PRIVATE_FILE);
  }
}

/** The permission bits of an existing directory that let other users in (0 when private or absent). */
export function looseDirMode(dir: string): number {
  try {
    const mode = statSync(dir).mode & 0o777;
    return mode & 0o077 ? mode : 0;
  } catch {
    return 0;
  }
}
