/**
 * Real server processes for multi-instance tests: `bin/neo-byok serve` (the same entry
 * point as `npm start`) on PORT=0, its address read from its "neo-byok listening" log
 * line; and one-shot CLI runs with their exit code and output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_SECRETS_ENV, UNTHROTTLED_ENV } from './context.ts';

export const BIN = fileURLToPath(new URL('../../bin/neo-byok', import.meta.url));

/** The environment a test server needs: shared secrets, rate limits off, quiet logs. */
export function baseServerEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ...TEST_SECRETS_ENV,
    ...UNTHROTTLED_ENV,
    NEO_LOG_LEVEL: 'info',
    NEO_DATABASE_POOL_SIZE: '4',
    HOST: '127.0.0.1',
    PORT: '0',
    ...overrides,
  };
}

/** Only what node needs from the parent environment; the rest comes from `env`. */
export function childEnv(env: Record<string, string>): Record<string, string> {
  const keep: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'SystemRoot']) {
    const v = process.env[k];
    if (v !== undefined) keep[k] = v;
  }
  return { ...keep, ...env };
}

export interface ServerProcess {
  url: string;
  pid: number;
  /** stdout lines (JSON log lines). */
  logs: string[];
  stderr: string[];
  /** SIGTERM, then waits for the exit; returns the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Collects a stream's lines into `into` (a line split across chunks is joined), calling `onLine` for each. */
export function lines(stream: NodeJS.ReadableStream | null, into: string[], onLine?: (line: string) => void): void {
  if (!stream) return;
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      into.push(line);
      onLine?.(line);
    }
  });
}

/** Starts `bin/neo-byok serve` with `env` (on top of baseServerEnv) and waits until it listens. */
export async function startServerProcess(env: Record<string, string>, opts: { timeoutMs?: number } = {}): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'neo-proc-'));
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve'], {
    env: childEnv(baseServerEnv({ NEO_DATA_DIR: dataDir, ...env })),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      rmSync(dataDir, { recursive: true, force: true });
      resolve({ code, signal });
    });
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${opts.timeoutMs ?? 60_000} ms; stderr: ${stderr.join('\n').slice(0, 2000)}`));
    }, opts.timeoutMs ?? 60_000);
    lines(child.stdout, logs, (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; address?: string };
        if (entry.msg === 'neo-byok listening' && entry.address) {
          clearTimeout(timer);
          resolve(entry.address);
        }
      } catch {
        /* not JSON */
      }
    });
    lines(child.stderr, stderr);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (code ${code}, signal ${signal}) before listening; stderr: ${stderr.join('\n').slice(0, 2000)}`));
    });
  });
  return {
    url,
    pid: child.pid!,
    logs,
    stderr,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const { code } = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bin/neo-byok <args>` to completion. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  opts: { input?: string | Buffer; timeoutMs?: number } = {},
): Promise<CliResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'neo-cli-'));
  try {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: childEnv(baseServerEnv({ NEO_DATA_DIR: dataDir, ...env })),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(timer);
    return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes; returns the last value. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs: number, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() >= deadline) return v;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
