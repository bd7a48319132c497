import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterEach } from 'vitest';
import { startServer, type TestServer } from '../../../server/test/support/server.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../test-results/web');

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Whether Debian's Chromium is there. In CI its absence fails the run; locally the browser
 * tests are skipped with a loud message.
 */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `Chromium not found at ${CHROMIUM} (apt-get install -y chromium)`;
  if (process.env.CI) throw new Error(`${message}: browser tests are required in CI`);
  console.warn(`\n!!! ${message}: BROWSER TESTS SKIPPED\n`);
  return false;
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** A fresh Chromium (its own user-data-dir: empty storage) with one page. */
export async function openBrowser(): Promise<BrowserSession> {
  const profile = mkdtempSync(join(tmpdir(), 'tributary-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1440, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  // Every browser test also checks the pages pass the server's CSP (http/security-headers.ts).
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`));
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /CSP violation|Content Security Policy/.test(msg.text())) errors.push(msg.text());
  });
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      if (errors.length > 0) throw new Error(`page errors: ${errors.join('; ')}`);
    },
  };
}

/** What a browser test holds: the server under test and the Chromium looking at it. */
export interface BrowserRig {
  server: TestServer | undefined;
  browser: BrowserSession | undefined;
  /** Starts a server (`args` as for `startServer`), opens a fresh Chromium and loads `path` of the server. */
  open(path: string, ...args: Parameters<typeof startServer>): Promise<Page>;
}

/** One rig per test of the calling suite: what a test opened is closed after it, the browser first. */
export function browserRigPerTest(): BrowserRig {
  const rig: BrowserRig = {
    server: undefined,
    browser: undefined,
    async open(path, ...args) {
      rig.server = await startServer(...args);
      rig.browser = await openBrowser();
      await rig.browser.page.goto(`${rig.server.url}${path}`);
      return rig.browser.page;
    },
  };
  afterEach(async () => {
    await rig.browser?.close();
    await rig.server?.close();
    rig.browser = undefined;
    rig.server = undefined;
  });
  return rig;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}
