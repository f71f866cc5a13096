/**
 * The load generator: a child process (forked by bench/run.ts with an IPC channel) that
 * runs autocannon's programmatic API, so that building requests and parsing responses
 * never runs on the orchestrator's or the server's event loop.
 *
 * Each message is a LoadSpec; the reply is a LoadResult. Request variants (headers and
 * body) are used round robin across all connections: the scenarios spread their calls
 * over the benchmarked owners this way.
 */
import { createRequire } from 'node:module';
import type { LoadResult, LoadSpec } from './types.ts';

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: AutocannonRequest) => AutocannonRequest;
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; max: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
  statusCodeStats?: Record<string, { count: number }>;
  '2xx': number;
}

type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  method?: string;
  requests?: AutocannonRequest[];
  timeout?: number;
}) => Promise<AutocannonResult>;

const require = createRequire(import.meta.url);
const autocannon = require('autocannon') as Autocannon;

/** Runs one load phase. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const variants = spec.variants.length > 0 ? spec.variants : [{ headers: {} }];
  let next = 0;
  const r = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.duration,
    timeout: 10,
    requests: [
      {
        setupRequest: (req) => {
          const v = variants[next++ % variants.length]!;
          return { ...req, method: spec.method, path: spec.path, headers: v.headers, ...(v.body !== undefined ? { body: v.body } : {}) };
        },
      },
    ],
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = s.count;
  return {
    rps: r.requests.average,
    requests: r.requests.total,
    ok: r['2xx'],
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    max: r.latency.max,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
    durationS: r.duration,
  };
}

if (process.send) {
  process.on('message', (msg: { id: number; spec: LoadSpec }) => {
    runLoad(msg.spec).then(
      (result) => process.send!({ id: msg.id, result }),
      (err: unknown) => process.send!({ id: msg.id, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  // The parent closing the channel ends this process.
  process.on('disconnect', () => process.exit(0));
}
