/**
 * Where the server's log lines go by default: standard output, one synchronous write per
 * line, through pino's own destination (SonicBoom with pino's EPIPE handling).
 *
 * pino's default destination is asynchronous: SonicBoom in its string mode appends each
 * line to the pending chunk and measures that whole chunk (`Buffer.byteLength`, up to
 * 16 KB) at every write, so V8 flattens it each time and a line written while an earlier
 * write is in flight copies the lines pending before it. Under load (many requests
 * answered per turn of the event loop, one access line each) that was 7.8 KB of a
 * `/healthz` request's 23.4 KB of garbage (docs/benchmarks.md, "The log destination").
 * Written synchronously, nothing is pending: no copy, no thread-pool hop per write, and no
 * line is left behind when the process exits, however it exits. The price is that a
 * standard output that does not keep up (a stalled log collector) slows the server down
 * instead of filling its memory with pending lines, the trade most loggers make.
 *
 * fd 1 is used as it is: `process.stdout` is not touched (its getter would make a pipe
 * non-blocking, and a write would then have to be retried).
 */
import pino from 'pino';

/** The stream pino writes the server's lines to. */
export function stdoutDestination(fd = 1): pino.DestinationStream {
  return pino.destination({ dest: fd, sync: true });
}
