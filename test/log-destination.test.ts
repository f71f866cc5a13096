/**
 * The server's default log destination (src/server/log-destination.ts): standard output,
 * one synchronous write per line. Each line is on the file descriptor when `write`
 * returns, whole and in order (multi-byte characters included), so nothing is lost when
 * the process exits right after logging (`process.exit`, an uncaught exception), and a
 * standard output whose reader went away (EPIPE) stops logging instead of crashing the
 * process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stdoutDestination } from '../src/server/log-destination.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const MODULE = join(ROOT, 'src/server/log-destination.ts');

/** Runs a script that uses the destination on its standard output; resolves with its exit code, stdout and stderr. */
function runChild(body: string, opts: { closeStdout?: boolean } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `import { stdoutDestination } from ${JSON.stringify(MODULE)};\nconst d = stdoutDestination();\n${body}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  let stdout = '';
  let stderr = '';
  if (opts.closeStdout) child.stdout.destroy();
  else child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const line = (i: number) => `{"level":30,"n":${i},"msg":"ligne é ✓ ${'x'.repeat(i % 97)}"}\n`;

describe('log destination (standard output, synchronous)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'neo-log-dest-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes each line before write returns, whole and in order, multi-byte characters included', () => {
    const file = join(dir, 'out.log');
    const fd = openSync(file, 'w');
    const d = stdoutDestination(fd);
    let want = '';
    for (let i = 0; i < 2000; i++) {
      const l = line(i);
      want += l;
      d.write(l);
      if (i % 97 === 0) assert.equal(statSync(file).size, Buffer.byteLength(want), `line ${i} written synchronously`);
    }
    closeSync(fd);
    assert.equal(readFileSync(file, 'utf8'), want);
  });

  it('has written every line, in order, when the process exits right after logging (process.exit, uncaught exception)', async () => {
    const want = Array.from({ length: 5000 }, (_x, i) => JSON.stringify({ n: i, msg: 'é' }) + '\n').join('');
    const exited = await runChild(`for (let i = 0; i < 5000; i++) d.write(JSON.stringify({ n: i, msg: 'é' }) + '\\n');\nprocess.exit(0);`);
    assert.equal(exited.code, 0, exited.stderr);
    assert.equal(exited.stdout, want);
    const crashed = await runChild(`for (let i = 0; i < 5000; i++) d.write(JSON.stringify({ n: i, msg: 'é' }) + '\\n');\nsetImmediate(() => { throw new Error('boom'); });`);
    assert.equal(crashed.code, 1);
    assert.match(crashed.stderr, /boom/);
    assert.equal(crashed.stdout, want);
  });

  it('stops logging when the reader of standard output is gone (EPIPE), without crashing', async () => {
    const r = await runChild(
      `let n = 0;\nconst tick = () => { for (let i = 0; i < 200; i++) d.write('{"level":30,"msg":"' + 'y'.repeat(200) + '"}\\n'); if (++n < 200) setImmediate(tick); else process.stderr.write('done\\n'); };\ntick();`,
      { closeStdout: true },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^done\n$/);
  });
});
