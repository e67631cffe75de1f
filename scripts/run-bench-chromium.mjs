// `npm run bench`: serves bench/ with Vite, opens it in Debian's headless Chromium through Playwright,
// prints the table and writes bench/results/local.json. Never downloads a browser.
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const args = ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const out = process.argv[2] ?? 'bench/results/local.json';

const server = await createServer({ configFile: false, root: 'bench', server: { port: 0, host: '127.0.0.1', fs: { allow: ['.'] } }, logLevel: 'error' });
await server.listen();
const url = server.resolvedUrls.local[0];
const browser = await chromium.launch({ executablePath, args, headless: true });
try {
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error('page:', m.text()));
  await page.goto(url);
  await page.waitForFunction(() => window.__benchReport || window.__benchError, null, { timeout: 15 * 60_000, polling: 500 });
  const error = await page.evaluate(() => window.__benchError);
  if (error) throw new Error(error);
  const report = await page.evaluate(() => window.__benchReport);
  report.commit = execSync('git rev-parse --short HEAD').toString().trim();
  console.log(await page.locator('#out').textContent());
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.close();
}
