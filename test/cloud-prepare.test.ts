/**
 * Local shape checks (PROVIDERS.md rule 5) of the three cloud adapters: what is accepted,
 * how it is normalized, the key_hint, and that malformed input is refused with an
 * invalid_request naming the field and never echoing the secret.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { AppError } from '../src/errors/index.ts';
import { createAdapter as amazonBedrock } from '../src/providers/amazon-bedrock/index.ts';
import { createAdapter as azureFoundry } from '../src/providers/azure-foundry/index.ts';
import { createAdapter as googleVertex } from '../src/providers/google-vertex/index.ts';
import { createProviderRegistry } from '../src/providers/registry.ts';
import { makeServiceAccount } from './fakes/cloud-providers.ts';

/** Asserts prepare() throws invalid_request naming `field`, without any of `secrets` in the message. */
function assertInvalid(fn: () => unknown, field: 'api_key' | 'location', secrets: string[] = [], pattern?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof AppError, `expected an AppError, got ${String(caught)}`);
  assert.equal(caught.code, 'invalid_request');
  assert.equal(caught.status, 400);
  assert.match(caught.detail, new RegExp(`\\b${field}\\b`));
  if (pattern) assert.match(caught.detail, pattern);
  for (const s of secrets) {
    if (s.length >= 6) assert.ok(!caught.detail.includes(s), 'the error message echoes the submitted secret');
  }
}

describe('google-vertex prepare()', () => {
  const vertex = googleVertex();
  const sa = makeServiceAccount();
  const parsed = JSON.parse(sa.json) as Record<string, unknown>;
  const variant = (patch: Record<string, unknown>) => JSON.stringify({ ...parsed, ...patch });

  it('accepts a service-account JSON: hint is client_email, region defaults to us-central1', () => {
    for (const location of [undefined, null, '', '  ']) {
      const p = vertex.prepare({ apiKey: sa.json, location });
      assert.equal(p.keyHint, sa.clientEmail);
      assert.equal(p.location, 'us-central1');
      assert.equal(p.apiKey, sa.json);
    }
  });

  it('normalizes and accepts GCP region names and global', () => {
    assert.equal(vertex.prepare({ apiKey: sa.json, location: ' Europe-West4 ' }).location, 'europe-west4');
    assert.equal(vertex.prepare({ apiKey: sa.json, location: 'northamerica-northeast1' }).location, 'northamerica-northeast1');
    assert.equal(vertex.prepare({ apiKey: sa.json, location: 'global' }).location, 'global');
    // The multi-region locations (served at aiplatform.{us,eu}.rep.googleapis.com).
    assert.equal(vertex.prepare({ apiKey: sa.json, location: 'us' }).location, 'us');
    assert.equal(vertex.prepare({ apiKey: sa.json, location: ' EU ' }).location, 'eu');
  });

  it('refuses a malformed region, naming location', () => {
    for (const location of ['us central1', 'us-central', 'https://evil.example.com', 'us-central1.evil.com', '../x', 'us-central1/'.repeat(3), 'a'.repeat(60) + '1']) {
      assertInvalid(() => vertex.prepare({ apiKey: sa.json, location }), 'location');
    }
  });

  it('refuses a well-formed region that is not a known Vertex AI location, saying how to find one', () => {
    for (const location of ['moon-south9', 'us-centrall1', 'europe-west99', 'US-Central2']) {
      assertInvalid(
        () => vertex.prepare({ apiKey: sa.json, location }),
        'location',
        [],
        new RegExp(`unknown region "${location.toLowerCase()}" for Vertex AI.*us-central1.*"Vertex AI locations" in the Google Cloud documentation`),
      );
    }
    // Every region the settings page offers is known.
    for (const location of ['us-east5', 'us-south1', 'europe-west9', 'europe-north1', 'asia-northeast3', 'australia-southeast1', 'me-central2']) {
      assert.equal(vertex.prepare({ apiKey: sa.json, location }).location, location);
    }
  });

  it('refuses text that is not JSON without quoting it', () => {
    const secret = 'AIzaSyNotAServiceAccountButAKey1234567';
    assertInvalid(() => vertex.prepare({ apiKey: secret, location: null }), 'api_key', [secret], /not valid JSON/);
    assertInvalid(() => vertex.prepare({ apiKey: '{"type": "service_account", "private_key": "-----BEGIN', location: null }), 'api_key', ['-----BEGIN']);
    assertInvalid(() => vertex.prepare({ apiKey: '[1,2,3]', location: null }), 'api_key');
  });

  it('refuses other credential types and missing fields', () => {
    assertInvalid(() => vertex.prepare({ apiKey: variant({ type: 'authorized_user' }), location: null }), 'api_key', [], /service_account/);
    for (const field of ['client_email', 'private_key', 'project_id']) {
      const without = { ...parsed };
      delete without[field];
      assertInvalid(() => vertex.prepare({ apiKey: JSON.stringify(without), location: null }), 'api_key', [sa.privateKeyPem.slice(40, 100)], new RegExp(field));
      assertInvalid(() => vertex.prepare({ apiKey: variant({ [field]: 42 }), location: null }), 'api_key', [], new RegExp(field));
    }
  });

  it('refuses a malformed client_email, project_id or private_key_id', () => {
    assertInvalid(() => vertex.prepare({ apiKey: variant({ client_email: 'not an email' }), location: null }), 'api_key', [], /client_email/);
    assertInvalid(() => vertex.prepare({ apiKey: variant({ project_id: 'Bad_Project!' }), location: null }), 'api_key', [], /project_id/);
    assertInvalid(() => vertex.prepare({ apiKey: variant({ project_id: 'a/../../b' }), location: null }), 'api_key', [], /project_id/);
    assertInvalid(() => vertex.prepare({ apiKey: variant({ private_key_id: 'has spaces and / slashes' }), location: null }), 'api_key', [], /private_key_id/);
  });

  it('refuses a private key jose cannot import for RS256', () => {
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const garbage = '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n';
    for (const pem of [rsa1024, pkcs1, ec, garbage, 'just text']) {
      assertInvalid(() => vertex.prepare({ apiKey: variant({ private_key: pem }), location: null }), 'api_key', [pem.slice(40, 90)], /private_key/);
    }
  });
});

describe('amazon-bedrock prepare()', () => {
  const bedrock = amazonBedrock();
  const sigv4 = { access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

  it('accepts SigV4 JSON: hint is the access key id as AKIA…WXYZ, region defaults to us-east-1', () => {
    const p = bedrock.prepare({ apiKey: JSON.stringify(sigv4), location: undefined });
    assert.equal(p.keyHint, 'AKIA…MPLE');
    assert.equal(p.location, 'us-east-1');
    assert.ok(!p.keyHint.includes(sigv4.secret_access_key.slice(0, 6)));
  });

  it('accepts temporary keys with their session token', () => {
    const p = bedrock.prepare({
      apiKey: JSON.stringify({ access_key_id: 'ASIAIOSFODNN7EXAMPLE', secret_access_key: sigv4.secret_access_key, session_token: 'IQoJb3JpZ2luX2VjEXAMPLETOKENxxxxxxxx' }),
      location: 'eu-central-1',
    });
    assert.equal(p.keyHint, 'ASIA…MPLE');
    assert.equal(p.location, 'eu-central-1');
  });

  it('accepts a Bedrock API key (bearer) with the general hint rule', () => {
    const key = 'ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlMTIzNDU2Nzg5MA==';
    const p = bedrock.prepare({ apiKey: `  ${key}\n`, location: 'US-West-2' });
    assert.equal(p.apiKey, key);
    assert.equal(p.keyHint, 'ABS…MA==');
    assert.equal(p.location, 'us-west-2');
  });

  it('normalizes and accepts AWS region names', () => {
    for (const r of ['us-east-1', 'ap-southeast-2', 'us-gov-west-1', 'eu-central-2', 'ap-southeast-4', 'il-central-1', 'sa-east-1']) {
      assert.equal(bedrock.prepare({ apiKey: JSON.stringify(sigv4), location: r }).location, r);
    }
  });

  it('refuses a malformed region, naming location', () => {
    for (const location of ['us-east', 'useast1', 'bedrock.us-east-1.amazonaws.com', 'us-east-1/../x', 'http://127.0.0.1']) {
      assertInvalid(() => bedrock.prepare({ apiKey: JSON.stringify(sigv4), location }), 'location');
    }
  });

  it('refuses a well-formed region that is not a known Bedrock region, saying how to find one', () => {
    // A typo, a region that does not exist, and a real AWS region without Bedrock (China).
    for (const location of ['us-east-7', 'eu-centrl-1', 'xx-nowhere-9', 'cn-north-1']) {
      assertInvalid(
        () => bedrock.prepare({ apiKey: JSON.stringify(sigv4), location }),
        'location',
        [sigv4.secret_access_key],
        new RegExp(`unknown region "${location}" for Amazon Bedrock.*us-east-1.*"Amazon Bedrock endpoints and quotas" in the AWS General Reference`),
      );
    }
    // Every region the settings page offers is known.
    for (const r of ['us-east-2', 'ca-central-1', 'eu-west-3', 'eu-south-1', 'ap-northeast-2', 'ap-south-1', 'ap-southeast-1']) {
      assert.equal(bedrock.prepare({ apiKey: JSON.stringify(sigv4), location: r }).location, r);
    }
  });

  it('refuses malformed SigV4 JSON without echoing the secret', () => {
    const secret = sigv4.secret_access_key;
    assertInvalid(() => bedrock.prepare({ apiKey: `{"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "${secret}"`, location: null }), 'api_key', [secret]);
    assertInvalid(() => bedrock.prepare({ apiKey: JSON.stringify({ secret_access_key: secret }), location: null }), 'api_key', [secret], /access_key_id/);
    assertInvalid(() => bedrock.prepare({ apiKey: JSON.stringify({ access_key_id: 'lowercase-id-not-aws', secret_access_key: secret }), location: null }), 'api_key', [secret], /access_key_id/);
    assertInvalid(() => bedrock.prepare({ apiKey: JSON.stringify({ access_key_id: sigv4.access_key_id }), location: null }), 'api_key', [], /secret_access_key/);
    assertInvalid(() => bedrock.prepare({ apiKey: JSON.stringify({ ...sigv4, session_token: 42 }), location: null }), 'api_key', [secret], /session_token/);
  });

  it('refuses temporary (ASIA…) keys without a session token', () => {
    assertInvalid(
      () => bedrock.prepare({ apiKey: JSON.stringify({ ...sigv4, access_key_id: 'ASIAIOSFODNN7EXAMPLE' }), location: null }),
      'api_key',
      [sigv4.secret_access_key],
      /session_token/,
    );
  });

  it('refuses an access key id pasted alone and keys with spaces', () => {
    assertInvalid(() => bedrock.prepare({ apiKey: 'AKIAIOSFODNN7EXAMPLE', location: null }), 'api_key', [], /access key id alone/);
    assertInvalid(() => bedrock.prepare({ apiKey: 'Bearer ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl', location: null }), 'api_key', ['ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl']);
    assertInvalid(() => bedrock.prepare({ apiKey: 'short', location: null }), 'api_key');
  });
});

describe('azure-foundry prepare()', () => {
  const azure = azureFoundry();
  const key = '0123456789abcdef0123456789abcdef';

  it('accepts the three Azure endpoint forms, normalized without a trailing slash', () => {
    const cases: [string, string][] = [
      ['https://my-resource.openai.azure.com/', 'https://my-resource.openai.azure.com'],
      ['https://My-Resource.OpenAI.Azure.com', 'https://my-resource.openai.azure.com'],
      ['  https://res1.services.ai.azure.com  ', 'https://res1.services.ai.azure.com'],
      ['https://res1.cognitiveservices.azure.com:443/', 'https://res1.cognitiveservices.azure.com'],
    ];
    for (const [location, normalized] of cases) {
      const p = azure.prepare({ apiKey: key, location });
      assert.equal(p.location, normalized);
      assert.equal(p.keyHint, '012…cdef');
      assert.equal(p.apiKey, key);
    }
  });

  it('requires the endpoint', () => {
    for (const location of [undefined, null, '', '   ']) assertInvalid(() => azure.prepare({ apiKey: key, location }), 'location', [], /required/);
  });

  it('refuses every other URL, naming location', () => {
    const refused = [
      'http://my-resource.openai.azure.com', // not https
      'https://10.0.0.1', // IP literal
      'https://[::1]', // IPv6 literal
      'https://2130706433', // decimal IP
      'https://127.0.0.1:443',
      'https://user:pass@my-resource.openai.azure.com', // userinfo
      'https://my-resource.openai.azure.com@127.0.0.1', // userinfo trick
      'https://my-resource.openai.azure.com:8443', // port
      'https://my-resource.openai.azure.com/openai/v1', // path
      'https://my-resource.openai.azure.com/?api-version=1', // query
      'https://my-resource.openai.azure.com/#x', // fragment
      'https://my-resource.openai.azure.com.evil.com', // suffix trick
      'https://evil.com/my-resource.openai.azure.com',
      'https://openai.azure.com', // no resource label
      'https://a.b.openai.azure.com', // nested label
      'https://my-resource.openai.azure.com.', // trailing dot
      'https://my_resource.openai.azure.com', // invalid label
      'https://management.azure.com',
      'ftp://my-resource.openai.azure.com',
      'my-resource.openai.azure.com',
      'https://localhost',
    ];
    for (const location of refused) assertInvalid(() => azure.prepare({ apiKey: key, location }), 'location', ['pass']);
  });

  it('refuses a key with spaces or one that is too short, without echoing it', () => {
    assertInvalid(() => azure.prepare({ apiKey: 'abc def ghi jkl', location: 'https://r.openai.azure.com' }), 'api_key', ['abc def ghi jkl']);
    assertInvalid(() => azure.prepare({ apiKey: 'abc', location: 'https://r.openai.azure.com' }), 'api_key');
  });

  it('accepts allow-listed test hosts over http with their port, and only those', () => {
    const testAzure = azureFoundry({ allowedHosts: ['127.0.0.1:4567', 'fake-azure.test'] });
    assert.equal(testAzure.prepare({ apiKey: key, location: 'http://127.0.0.1:4567/' }).location, 'http://127.0.0.1:4567');
    assert.equal(testAzure.prepare({ apiKey: key, location: 'http://fake-azure.test:9000' }).location, 'http://fake-azure.test:9000');
    assertInvalid(() => testAzure.prepare({ apiKey: key, location: 'http://127.0.0.1:4568' }), 'location');
    assertInvalid(() => testAzure.prepare({ apiKey: key, location: 'http://user:pw@127.0.0.1:4567' }), 'location');
    assertInvalid(() => testAzure.prepare({ apiKey: key, location: 'http://127.0.0.1:4567/openai' }), 'location');
  });

  it('the registry passes the configured allow list to the Azure adapter', () => {
    const plain = createProviderRegistry().get('azure-foundry')!;
    const withList = createProviderRegistry({ azureAllowedHosts: ['127.0.0.1:4567'] }).get('azure-foundry')!;
    assertInvalid(() => plain.prepare({ apiKey: key, location: 'http://127.0.0.1:4567' }), 'location');
    assert.equal(withList.prepare({ apiKey: key, location: 'http://127.0.0.1:4567' }).location, 'http://127.0.0.1:4567');
  });
});
