#!/usr/bin/env node
// Builds the server: src/ → dist/ as one esbuild bundle of plain JavaScript (ES modules,
// Node 20), packages left external (resolved from node_modules at run time, as before),
// the lazily loaded `serve` command in its own chunk so that the CLI's other commands and
// `--help` do not load Fastify. The settings page's static files (src/web) are copied
// to dist/web, so dist/ plus node_modules is everything the server needs.
//
//   npm run build                    build now
//   import { ensureBuilt }           bin/neo-byok: build when dist/ is missing or older than src/
//
// Why esbuild rather than `tsc` emit: the build runs before `npm start` whenever a source
// changed, so its time is start-up time; esbuild bundles src/ in well under a second
// where tsc needs many seconds (type checking stays `npm run typecheck`). One bundle also
// loads faster than ~150 separate modules. esbuild is a devDependency (and tsx's):
// the build needs devDependencies, the built server does not (docs/deployment.md).
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SRC = join(ROOT, 'src');
export const DIST = join(ROOT, 'dist');
/** The built CLI entry (exports `main`). */
export const ENTRY = join(DIST, 'neo-byok.mjs');
const LOCK = join(ROOT, '.build-lock');
const LOCK_STALE_MS = 60_000;
// Files of src/ that are sources of the bundle, not assets copied beside it.
const NOT_ASSETS = /\.(ts|md)$/;

/** Newest modification time (ms) of the files the build reads: src/ and this script. */
function newestSourceMtime() {
  let newest = statSync(fileURLToPath(import.meta.url)).mtimeMs;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (!entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(SRC);
  return newest;
}

/** True when dist/ is missing or older than a source file. */
export function isStale() {
  let built;
  try {
    built = statSync(ENTRY).mtimeMs;
  } catch {
    return true;
  }
  return newestSourceMtime() > built;
}

function webAssets(dir = join(SRC, 'web'), out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) webAssets(p, out);
    else if (!NOT_ASSETS.test(entry.name)) out.push(p);
  }
  return out;
}

/**
 * Builds dist/. Safe when several processes build at once (tests start many servers):
 * each writes into its own temporary folder and moves the files into dist/, chunks
 * (content-hashed names) first and the entry last, each by an atomic rename, so a
 * process never loads a half-written build.
 */
export async function build({ quiet = false } = {}) {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new Error(
      'esbuild is not installed: building needs the devDependencies (`npm install` or `npm ci`, not `--omit=dev`). ' +
        'Build once with them (`npm run build`), then dist/ runs without them.',
    );
  }
  const started = Date.now();
  const tmp = join(ROOT, `.build-tmp-${process.pid}-${started}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    const result = await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: { 'neo-byok': 'src/cli/main.ts' },
      outdir: tmp,
      outExtension: { '.js': '.mjs' },
      // Every output in dist/ itself: bundled code finds the copied assets at ./web/.
      chunkNames: '[name]-[hash]',
      define: { NEO_BUNDLE: 'true' },
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      sourcemap: 'linked',
      // Function and class names stay as written: they appear in logs and stack traces.
      keepNames: true,
      metafile: true,
      logLevel: 'warning',
    });
    for (const asset of webAssets()) {
      const to = join(tmp, 'web', relative(join(SRC, 'web'), asset));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(asset, to);
    }
    const outputs = new Set([...Object.keys(result.metafile.outputs).map((p) => relative(tmp, join(ROOT, p))), ...listFiles(join(tmp, 'web')).map((p) => relative(tmp, p))]);
    // Move everything but the entry (and its map), then the entry: a reader that sees the
    // new entry finds every chunk it imports.
    const entryName = relative(DIST, ENTRY);
    const ordered = [...outputs].filter((p) => p !== entryName && p !== `${entryName}.map`);
    ordered.push(`${entryName}.map`, entryName);
    for (const rel of ordered) {
      const to = join(DIST, rel);
      mkdirSync(dirname(to), { recursive: true });
      renameSync(join(tmp, rel), to);
    }
    // The build counts from when it started reading sources: a file saved during the
    // build makes the next start build again.
    utimesSync(ENTRY, new Date(started), new Date(started));
    removeOldChunks(outputs);
    if (!quiet) process.stderr.write(`neo-byok: built dist/ from src/ in ${Date.now() - started} ms\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function listFiles(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) listFiles(p, out);
    else out.push(p);
  }
  return out;
}

// Chunks of earlier builds: removed once they are a minute old (a process that started
// just before this build may still be loading them).
function removeOldChunks(current) {
  const cutoff = Date.now() - 60_000;
  for (const entry of readdirSync(DIST, { withFileTypes: true })) {
    if (!entry.isFile() || current.has(entry.name)) continue;
    const file = join(DIST, entry.name);
    try {
      if (statSync(file).mtimeMs < cutoff) rmSync(file, { force: true });
    } catch {
      /* removed by another build */
    }
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Builds when dist/ is missing or older than src/, one process at a time (a lock folder;
 * a lock older than a minute is taken over). Returns the entry's path. When the build
 * tools are missing (`npm ci --omit=dev`) an existing build runs as it is, with a warning
 * if it is older than the sources; without any build this throws.
 */
export async function ensureBuilt() {
  if (!isStale()) return ENTRY;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > LOCK_STALE_MS) rmSync(LOCK, { recursive: true, force: true });
      } catch {
        /* released meanwhile */
      }
      await sleep(100);
      if (!isStale()) return ENTRY;
    }
  }
  try {
    if (isStale()) await build({ quiet: false });
  } catch (err) {
    if (existsSync(ENTRY) && /esbuild is not installed/.test(err.message)) {
      process.stderr.write(`neo-byok: warning: dist/ is older than src/ and cannot be rebuilt here (${err.message}); running the existing build\n`);
      return ENTRY;
    }
    throw err;
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
  return ENTRY;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await build();
  } catch (err) {
    process.stderr.write(`build failed: ${err.message}\n`);
    process.exit(1);
  }
}
