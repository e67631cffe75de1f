// `npm run bench`: serves bench/ with Vite (the demo's embedded model under /models), opens it in Debian's headless
// Chromium through Playwright, and writes bench/results/local.json and its tables, bench/results/local.md.
// Never downloads a browser. Arguments: [out.json] [suites] [steps] (suites: kernels,worker,e2e by default).
import { execSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';
import { CHROMIUM_PATH, CHROMIUM_WEBGPU_ARGS } from './chromium.mjs';
import { markdown } from './bench-markdown.mjs';

const [out = 'bench/results/local.json', suites = 'kernels,worker,e2e', steps = '10'] = process.argv.slice(2);

// onnxruntime-web's wasm at /ort/ (the peer's loader points there; Vite's asset handling does not serve it raw).
const ortDist = resolve('node_modules/onnxruntime-web/dist');
const ortWasm = {
  name: 'ort-wasm',
  configureServer(server) {
    server.middlewares.use('/ort/', (req, res, next) => {
      const file = resolve(ortDist, basename(req.url.split('?')[0]));
      if (!existsSync(file)) return next();
      res.setHeader('Content-Type', file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
      createReadStream(file).pipe(res);
    });
  },
};
const server = await createServer({
  configFile: false, root: 'bench', publicDir: resolve('demo/public'), plugins: [ortWasm],
  server: { port: 0, host: '127.0.0.1', fs: { allow: [process.cwd()] } }, logLevel: 'error',
});
await server.listen();
const url = `${server.resolvedUrls.local[0]}?suites=${suites}&steps=${steps}`;
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_WEBGPU_ARGS, headless: true });
try {
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error('page:', m.text()));
  await page.goto(url);
  let shown = 0;
  const show = async () => {
    const lines = ((await page.locator('#out').textContent()) ?? '').split('\n');
    for (; shown < lines.length - 1; shown++) console.log(lines[shown]);
  };
  const timer = setInterval(() => show().catch(() => {}), 2000);
  await page.waitForFunction(() => window.__benchReport || window.__benchError, null, { timeout: 60 * 60_000, polling: 1000 });
  clearInterval(timer);
  await show();
  const error = await page.evaluate(() => window.__benchError);
  if (error) throw new Error(error);
  const report = await page.evaluate(() => window.__benchReport);
  report.commit = execSync('git rev-parse --short HEAD').toString().trim();
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  const md = markdown(report);
  writeFileSync(out.replace(/\.json$/, '.md'), md);
  console.log(`\n${md}\nwrote ${out} and ${out.replace(/\.json$/, '.md')}`);
  if (report.errors?.length) process.exitCode = 1;
} finally {
  await browser.close();
  await server.close();
}
