/**
 * Real headless Chromium for the settings-page tests: Debian's /usr/bin/chromium driven
 * by playwright-core (never a downloaded browser). Every launch gets a fresh, temporary
 * user-data-dir (Playwright creates one per `launch()` and deletes it on close), and
 * every page gets its own browser context (own sessionStorage, cookies, cache).
 *
 * Network: the server listens on 127.0.0.1; background networking is off and every
 * host name resolves to nothing, so the browser cannot reach anything but loopback IPs.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page, type Response } from 'playwright-core';
import type { TestContext } from './context.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/*
 * The few browser globals that callbacks run inside the page (page.evaluate) touch. The
 * project compiles without the DOM lib (it is a Node server), so test files declare
 * these locally: `declare const document: BrowserDocument;` and so on.
 */
export interface BrowserElement {
  value?: string;
  textContent: string | null;
  outerHTML: string;
  scrollWidth: number;
  clientWidth: number;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  append(...nodes: unknown[]): void;
  blur?(): void;
}
export interface BrowserDocument {
  documentElement: BrowserElement;
  activeElement: BrowserElement | null;
  body: BrowserElement;
  querySelector(selector: string): BrowserElement | null;
  querySelectorAll(selector: string): Iterable<BrowserElement>;
  createElement(tag: string): BrowserElement;
  addEventListener(type: string, listener: (e: { violatedDirective: string; blockedURI: string; sourceFile: string; lineNumber: number }) => void): void;
}
export interface BrowserStorage {
  readonly length: number;
  getItem(key: string): string | null;
}
declare const document: BrowserDocument;
declare const window: Record<string, unknown>;

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--no-default-browser-check',
  // Every host but 127.0.0.1 fails to resolve: nothing but loopback is reachable.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

/**
 * Why the browser tests cannot run here, or null when they can. In CI (CI=true) a
 * missing browser is a failure, not a skip: the caller turns the reason into a failing test.
 */
export function chromiumMissing(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null;
  return `${CHROMIUM_PATH} is not installed (apt-get install -y chromium); the settings-page browser tests need it`;
}

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/**
 * A suite that needs Chromium: skipped where it is missing, except in CI, where one
 * failing test says what is missing.
 */
export function describeInChromium(name: string, body: () => void): void {
  const missing = chromiumMissing();
  if (missing && IN_CI) {
    describe(name, () => {
      it('needs Chromium at /usr/bin/chromium in CI', () => {
        assert.fail(missing);
      });
    });
    return;
  }
  describe(name, { skip: missing ?? false }, body);
}

export interface ChromiumPages {
  /** A fresh page on `baseUrl` (openPage), closed after the suite. */
  open(baseUrl: string, opts?: { width?: number; height?: number }): Promise<OpenedPage>;
}

/** Launches Chromium before the suite's tests; after them closes every page opened through `open`, then Chromium. */
export function useChromium(): ChromiumPages {
  let browser: Browser | undefined;
  const pages: OpenedPage[] = [];
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    for (const p of pages) await p.close().catch(() => {});
    await browser?.close();
  });
  return {
    open: async (baseUrl, opts) => {
      const p = await openPage(browser!, baseUrl, opts);
      pages.push(p);
      return p;
    },
  };
}

/** Serves the app on 127.0.0.1 (a free port); its base URL. */
export async function listenLocal(ctx: TestContext): Promise<string> {
  await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
}

/** Signs in on the settings page with a Neo API key or an access token, and waits for the page. */
export async function signIn(p: OpenedPage, credential: string): Promise<void> {
  await p.page.goto('/');
  await p.page.getByLabel('Neo API key or access token').fill(credential);
  await p.page.getByRole('button', { name: 'Sign in' }).click();
  await p.page.getByRole('heading', { level: 1, name: 'BYOK settings' }).waitFor();
}

/** What a page did: console messages, page errors, CSP violations and every response. */
export interface PageRecord {
  console: { type: string; text: string }[];
  errors: string[];
  responses: Response[];
  /**
   * The body of each response (same order as `responses`), read as soon as it arrives:
   * the browser drops bodies of the previous document on navigation. null when the
   * browser keeps none (redirects, 304s).
   */
  bodies: Promise<string | null>[];
  requests: string[];
}

export interface OpenedPage {
  context: BrowserContext;
  page: Page;
  record: PageRecord;
  /** CSP violations the page reported (securitypolicyviolation events). */
  cspViolations(): Promise<string[]>;
  close(): Promise<void>;
}

/** A fresh context and page on `baseUrl`, recording what happens on it. */
export async function openPage(
  browser: Browser,
  baseUrl: string,
  opts: { width?: number; height?: number } = {},
): Promise<OpenedPage> {
  const context = await browser.newContext({
    baseURL: baseUrl,
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 },
    serviceWorkers: 'block',
    colorScheme: 'light',
    locale: 'en-GB',
    timezoneId: 'UTC',
    reducedMotion: 'reduce',
  });
  // Runs before the page's own scripts, outside its CSP (injected by the browser).
  await context.addInitScript(() => {
    const violations: string[] = [];
    window.__cspViolations = violations;
    document.addEventListener('securitypolicyviolation', (e) => {
      violations.push(`${e.violatedDirective} ${e.blockedURI || '(inline)'} ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const record: PageRecord = { console: [], errors: [], responses: [], bodies: [], requests: [] };
  page.on('console', (m: ConsoleMessage) => record.console.push({ type: m.type(), text: m.text() }));
  page.on('pageerror', (e) => record.errors.push(String(e)));
  page.on('response', (r) => {
    record.responses.push(r);
    record.bodies.push(
      r.body().then(
        (b) => b.toString('utf8'),
        () => null,
      ),
    );
  });
  page.on('request', (r) => record.requests.push(r.url()));
  return {
    context,
    page,
    record,
    cspViolations: () => page.evaluate(() => (window.__cspViolations as string[]).slice()),
    close: () => context.close(),
  };
}

/** Where screenshots go when NEO_SCREENSHOTS=1 (docs/images/), or null. */
export function screenshotDir(): string | null {
  if (process.env.NEO_SCREENSHOTS !== '1') return null;
  const dir = join(import.meta.dirname, '..', '..', 'docs', 'images');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Saves a PNG of the current state (full page unless told) when screenshots are on. */
export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  const dir = screenshotDir();
  if (!dir) return;
  // Let the caret and focus rings settle, and keep the images stable between runs.
  await page.evaluate(() => document.activeElement?.blur?.());
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: opts.fullPage ?? true, animations: 'disabled', caret: 'hide' });
}
