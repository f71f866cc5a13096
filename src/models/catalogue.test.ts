import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { PROVIDERS } from '../providers/types.ts';
import { AUTO_MODEL_ID, AUTO_PREFERENCE, CATALOGUE, findModel, providerPreference } from './catalogue.ts';

describe('model catalogue', () => {
  it('has unique, lower-case dash ids and never the auto alias', () => {
    const ids = CATALOGUE.map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.match(id, /^[a-z0-9]+(-[a-z0-9]+)*$/);
    assert.ok(!ids.includes(AUTO_MODEL_ID));
  });

  it('covers the current Claude, GPT, Gemini and Grok families', () => {
    for (const id of ['claude-opus-4-1', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'gpt-5', 'gpt-5-mini', 'gpt-4-1', 'o3', 'gemini-2-5-pro', 'gemini-2-5-flash', 'grok-4', 'grok-3-mini']) {
      assert.ok(findModel(id), id);
    }
    assert.deepEqual([...new Set(CATALOGUE.map((m) => m.family))].sort(), ['claude', 'gemini', 'gpt', 'grok', 'o-series']);
  });

  it('describes every model completely, served by its own vendor', () => {
    for (const m of CATALOGUE) {
      assert.ok(m.name.length > 0);
      assert.ok(Number.isInteger(m.context_window) && m.context_window >= 100_000, `${m.id} context window`);
      assert.equal(typeof m.capabilities.tools, 'boolean');
      assert.ok((m.providers[m.vendor]?.length ?? 0) > 0, `${m.id} is served by its vendor ${m.vendor}`);
      for (const p of Object.keys(m.providers)) assert.ok((PROVIDERS as readonly string[]).includes(p), p);
    }
  });

  it('lists every catalogue model exactly once in the auto preference', () => {
    assert.deepEqual([...AUTO_PREFERENCE].sort(), CATALOGUE.map((m) => m.id).sort());
  });

  it('is documented: docs/runtime-integration.md lists the auto order and every model', () => {
    const doc = readFileSync(new URL('../../docs/runtime-integration.md', import.meta.url), 'utf8');
    const autoSection = doc.slice(doc.indexOf('### `auto`'), doc.indexOf('### Provider model ids'));
    const documented = [...autoSection.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]).filter((id) => id !== 'auto' && findModel(id!));
    assert.deepEqual([...new Set(documented)], [...AUTO_PREFERENCE]);
    const table = doc.slice(doc.indexOf('### Catalogue'), doc.indexOf('## Errors'));
    for (const m of CATALOGUE) assert.ok(table.includes(`\`${m.id}\``), `${m.id} in the catalogue table`);
  });

  it('orders providers first-party, then clouds, then gateways', () => {
    assert.deepEqual(providerPreference(findModel('claude-sonnet-4-5')!), [
      'anthropic',
      'amazon-bedrock',
      'google-vertex',
      'azure-foundry',
      'openrouter',
      'vercel-gateway',
    ]);
    assert.deepEqual(providerPreference(findModel('gpt-5')!), ['openai', 'azure-foundry', 'openrouter', 'vercel-gateway']);
    assert.deepEqual(providerPreference(findModel('gemini-2-5-pro')!), ['google', 'google-vertex', 'openrouter', 'vercel-gateway']);
    assert.deepEqual(providerPreference(findModel('grok-4')!), ['xai', 'openrouter', 'vercel-gateway']);
  });
});
