/** Messages between the benchmark orchestrator (bench/run.ts) and the load generator (bench/loadgen.ts). */

export interface RequestVariant {
  headers: Record<string, string>;
  body?: string;
}

export interface LoadSpec {
  /** Base URL of the server (`http://127.0.0.1:<port>`). */
  url: string;
  path: string;
  method: 'GET' | 'POST' | 'PATCH';
  connections: number;
  /** Seconds. */
  duration: number;
  /** Used round robin across all connections. */
  variants: RequestVariant[];
}

export interface LoadResult {
  /** Mean of autocannon's per-second request counts. */
  rps: number;
  requests: number;
  /** Responses with a 2xx status. */
  ok: number;
  /** Latencies in ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  durationS: number;
}
