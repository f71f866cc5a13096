/**
 * A receiver for Neo BYOK webhooks that verifies every delivery with the Standard
 * Webhooks library before trusting it.
 *
 *   npm install standardwebhooks
 *   NEO_WEBHOOK_SECRET=whsec_… PORT=3000 npx tsx verify-webhook.ts
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

/** The JSON body of every delivery. */
export interface NeoWebhookEvent {
  id: string; // the event id, also the `webhook-id` header: deduplicate on it
  type: string; // provider_key.status_changed, mode.auto_switched, ping, …
  timestamp: string;
  resource_type: 'user' | 'team';
  resource_id: string;
  data: Record<string, unknown>;
}

/** The exact bytes received: the signature covers them, so never verify re-serialized JSON. */
function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) req.destroy(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * An HTTP server that answers 204 to a verified delivery (after `handle` ran once for
 * its event id) and 401 to anything not signed with `secret`. During a secret rotation
 * Neo signs with both secrets, so a receiver still holding the old one keeps working.
 */
export function createReceiver(
  secret: string,
  handle: (event: NeoWebhookEvent) => Promise<void> | void,
): Server {
  const webhook = new Webhook(secret);
  const handled = new Set<string>(); // in production: a table with a unique key on the event id
  return createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST') return res.writeHead(405).end();
      const body = await readBody(req);
      let event: NeoWebhookEvent;
      try {
        // Checks webhook-signature over webhook-id, webhook-timestamp and the body, and
        // refuses a timestamp more than 5 minutes away from now (replays).
        event = webhook.verify(body, req.headers as Record<string, string>) as NeoWebhookEvent;
      } catch (err) {
        if (err instanceof WebhookVerificationError) return res.writeHead(401).end();
        throw err;
      }
      // Delivery is at least once: the same event can arrive again; act on it once.
      if (!handled.has(event.id)) {
        await handle(event);
        handled.add(event.id);
      }
      // Answer 2xx within 5 seconds (queue slow work); anything else is retried.
      res.writeHead(204).end();
    })().catch(() => res.writeHead(500).end());
  });
}

// Run as a script: log each verified event.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const secret = process.env.NEO_WEBHOOK_SECRET;
  if (!secret) throw new Error('set NEO_WEBHOOK_SECRET to the endpoint secret (whsec_…)');
  const port = Number(process.env.PORT ?? 3000);
  createReceiver(secret, (event) => console.log(event.type, event.id, JSON.stringify(event.data))).listen(
    port,
    () => console.log(`receiving Neo webhooks on http://localhost:${port}/`),
  );
}
