/**
 * Request logging at the cost of one string per request (issue 15, docs/benchmarks.md).
 *
 * Every request gets `request.log`, a logger bound to its request id, and writes one
 * access-log line when it completes. Done the default way (a pino child per request, the
 * line formatted by pino with redaction and serializers) that was the largest cost of a
 * resolve in the profiles (docs/benchmarks.md, "The suspects of the issue"): resolve's own `log.child({ owner_type, owner_id })` made
 * a second child whose prototype was the first, and V8 pays for every fresh prototype.
 * Here:
 * - `RequestLogger` is the per-request logger: it keeps its bindings and creates the
 *   pino child (one, from the root, with all bindings) only when a line is actually
 *   logged through it at an enabled level (errors, warnings); `child()` only merges
 *   bindings;
 * - `OneLineRequestLog` writes the access line itself: the same JSON object pino writes
 *   for `log.info({ req, res, responseTime }, 'request completed')` with the same
 *   serializers (method, path without the query, id; status code), to the same stream.
 *   Nothing in that line is a redacted path; a binding whose name is one (never so
 *   today) sends the line through pino instead. test/request-log.test.ts compares both.
 */
import { symbols, type Logger } from 'pino';
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';

type Bindings = Record<string, unknown>;
type ChildOptions = {
  level?: string;
  serializers?: unknown;
  redact?: unknown;
  formatters?: unknown;
  msgPrefix?: unknown;
};

/** Top-level names that the logger redacts (LOG_REDACT_PATHS without a dot): never written by the fast line. */
const REDACTED_TOP_LEVEL = new Set(['api_key', 'credential', 'token', 'key']);

const LEVEL_VALUES: Record<string, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

/**
 * The per-request logger (Fastify's `childLoggerFactory`): a pino child made on first
 * use. Methods live on the prototype (per-instance arrow functions cost a closure and a
 * `name` definition each, per request, in the bundle), and a child keeps a link to its
 * parent instead of copying bindings.
 */
export class RequestLogger implements FastifyBaseLogger {
  private real: FastifyBaseLogger | undefined;
  private readonly ownLevel: string | undefined;
  /** This logger's bindings as JSON members (`,"k":v…`), parents' included; made once. */
  private json: string | null | undefined;

  constructor(
    readonly root: FastifyBaseLogger,
    private readonly own: Bindings,
    level?: string,
    private readonly parent?: RequestLogger,
  ) {
    // The root's level is inherited unless a route sets another.
    this.ownLevel = level && level !== root.level ? level : undefined;
  }

  /** Every binding, parents' first (a later one wins, as in pino's output). */
  get bindings(): Bindings {
    return this.parent ? { ...this.parent.bindings, ...this.own } : this.own;
  }

  get level(): string {
    return this.real ? this.real.level : (this.ownLevel ?? this.root.level);
  }

  set level(level: string) {
    this.logger().level = level;
  }

  enabled(level: string): boolean {
    return (LEVEL_VALUES[level] ?? 0) >= (LEVEL_VALUES[this.level] ?? 0);
  }

  /** The pino child this logger stands for (created now if not yet). */
  logger(): FastifyBaseLogger {
    return (this.real ??= this.root.child(
      this.bindings,
      this.ownLevel ? { level: this.ownLevel } : undefined,
    ));
  }

  /** `,"k":v` for each binding (pino writes a child's bindings so, parents' first); null when one must go through pino. */
  bindingsJson(): string | null {
    if (this.json !== undefined) return this.json;
    let s = this.parent ? this.parent.bindingsJson() : '';
    if (s !== null) {
      for (const k in this.own) {
        const v = this.own[k];
        if (v === undefined) continue;
        if (REDACTED_TOP_LEVEL.has(k) || (typeof v === 'object' && v !== null)) {
          s = null;
          break;
        }
        s += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
      }
    }
    return (this.json = s);
  }

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    // Anything but a level changes how lines are written: a real pino child then.
    if (options && (options.serializers || options.redact || options.formatters || options.msgPrefix))
      return this.logger().child(bindings, options as never);
    return new RequestLogger(this.root, bindings, options?.level ?? this.ownLevel, this);
  }

  fatal(...args: unknown[]): void {
    if (this.enabled('fatal')) this.logger().fatal(...(args as [string]));
  }
  error(...args: unknown[]): void {
    if (this.enabled('error')) this.logger().error(...(args as [string]));
  }
  warn(...args: unknown[]): void {
    if (this.enabled('warn')) this.logger().warn(...(args as [string]));
  }
  info(...args: unknown[]): void {
    if (this.enabled('info')) this.logger().info(...(args as [string]));
  }
  debug(...args: unknown[]): void {
    if (this.enabled('debug')) this.logger().debug(...(args as [string]));
  }
  trace(...args: unknown[]): void {
    if (this.enabled('trace')) this.logger().trace(...(args as [string]));
  }
  silent(): void {}
}

/** Fastify's `childLoggerFactory`: the request's logger, bound to its id, without a pino child yet. */
export function requestLoggerFactory(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  opts: { level?: string },
): FastifyBaseLogger {
  return new RequestLogger(logger, bindings, opts.level);
}

interface PinoInternals {
  [symbols.chindingsSym]?: string;
  [symbols.streamSym]?: { write(line: string): unknown };
}

/**
 * One access-log line per request ("request completed", with method, path and id, status
 * and time) instead of Fastify's two ("incoming request" + "request completed"), written
 * as described at the top of this file. Errors and every other Fastify line are
 * unchanged (through pino).
 */
export class OneLineRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (error) {
      super.requestCompleted(error, request, reply);
      return;
    }
    const log = reply.log;
    if (log instanceof RequestLogger) {
      if (!log.enabled('info')) return;
      const line = accessLine(log, request, reply);
      if (line !== undefined) {
        ((log.root as unknown as PinoInternals)[symbols.streamSym] as { write(line: string): unknown }).write(
          line,
        );
        return;
      }
    }
    log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** The line pino writes for `info({ req, res, responseTime }, 'request completed')`; undefined when pino must write it. */
export function accessLine(
  log: RequestLogger,
  request: FastifyRequest,
  reply: FastifyReply,
): string | undefined {
  const root = log.root as unknown as PinoInternals & Partial<Logger>;
  const base = root[symbols.chindingsSym];
  const stream = root[symbols.streamSym];
  const bindings = log.bindingsJson();
  if (typeof base !== 'string' || !stream || typeof stream.write !== 'function' || bindings === null)
    return undefined;
  const q = request.url.indexOf('?');
  const url = q === -1 ? request.url : request.url.slice(0, q);
  return (
    `{"level":30,"time":${Date.now()}${base}${bindings},"req":{"method":${JSON.stringify(request.method)},"url":${JSON.stringify(url)},"id":${JSON.stringify(request.id)}},` +
    `"res":{"statusCode":${reply.statusCode}},"responseTime":${reply.elapsedTime},"msg":"request completed"}\n`
  );
}
