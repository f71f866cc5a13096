/**
 * The floor of the benchmark (issue 15): the least a credential resolution can cost on
 * this machine with this stack, run in its own process and measured in the same round as
 * the real server. One Fastify route, `POST /internal/v1/credentials/resolve`, doing the
 * work of a resolve and nothing else:
 *   - the bearer token compared (SHA-256 digests, constant time) with the service token;
 *   - the JSON body parsed and validated against a schema ({user_id: uuid, model});
 *   - one Map lookup (user → its provider key, sealed);
 *   - AES-256-GCM decryption of a 160-byte key;
 *   - a JSON reply serialized with a response schema, `Cache-Control: no-store`.
 * No logger, no other hook, no metrics. Beside it, `GET /healthz`: a bare route answering
 * `{"status":"ok"}`, the floor's own baseline, so that the floor's resolve ÷ its GET in the
 * same round ("floor limit") tells how close to a bare GET the work of a resolve comes on
 * this stack and machine: the yardstick for the service's "resolve × /healthz"
 * (docs/benchmarks.md, "The floor's own limit"). The user ids (the benchmark's pool) and
 * the token come in the environment: NEO_FLOOR_USERS (comma-separated), NEO_FLOOR_TOKEN.
 * Prints `listening <url>` on stdout once ready.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';

const token = process.env.NEO_FLOOR_TOKEN ?? '';
const tokenDigest = createHash('sha256').update(`Bearer ${token}`).digest();
const dataKey = randomBytes(32);

interface Sealed {
  iv: Buffer;
  body: Buffer;
  tag: Buffer;
  provider: string;
}

const keys = new Map<string, Sealed>();
for (const userId of (process.env.NEO_FLOOR_USERS ?? '').split(',').filter(Boolean)) {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
  cipher.setAAD(Buffer.from(userId));
  const plaintext = Buffer.from(`sk-proj-${randomBytes(114).toString('base64url')}`.slice(0, 160));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  keys.set(userId, { iv, body, tag: cipher.getAuthTag(), provider: 'openai' });
}

const app = Fastify({ logger: false });
app.post(
  '/internal/v1/credentials/resolve',
  {
    schema: {
      body: {
        type: 'object',
        required: ['user_id', 'model'],
        additionalProperties: false,
        properties: { user_id: { type: 'string', format: 'uuid' }, model: { type: 'string', minLength: 1, maxLength: 128 } },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            mode: { type: 'string' },
            provider: { type: 'string' },
            provider_model_id: { type: 'string' },
            credential: { type: 'object', properties: { api_key: { type: 'string' }, location: { type: 'null' } } },
          },
        },
        401: { type: 'object', properties: { error: { type: 'string' } } },
        404: { type: 'object', properties: { error: { type: 'string' } } },
      },
    },
  },
  async (request, reply) => {
    const auth = request.headers.authorization ?? '';
    if (!timingSafeEqual(createHash('sha256').update(auth).digest(), tokenDigest)) return reply.code(401).send({ error: 'unauthorized' });
    const { user_id, model } = request.body as { user_id: string; model: string };
    const sealed = keys.get(user_id);
    if (!sealed) return reply.code(404).send({ error: 'not found' });
    const decipher = createDecipheriv('aes-256-gcm', dataKey, sealed.iv);
    decipher.setAAD(Buffer.from(user_id));
    decipher.setAuthTag(sealed.tag);
    const apiKey = Buffer.concat([decipher.update(sealed.body), decipher.final()]).toString('utf8');
    void reply.header('cache-control', 'no-store');
    return { mode: 'byok', provider: sealed.provider, provider_model_id: model, credential: { api_key: apiKey, location: null } };
  },
);

app.get('/healthz', { schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({ status: 'ok' }));

const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`listening ${address}\n`);
process.on('SIGTERM', () => void app.close());
