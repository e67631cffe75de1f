// Library build of src/index.ts, src/runtime.ts and the worker script (ESM, WGSL inlined as strings) for `npm run build`, and the demo app
// (root demo/) for `npm run demo`. Tests have their own config: vitest.config.ts.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The config is ESM: no CommonJS __dirname (Vite warns when it has to shim one).
const root = dirname(fileURLToPath(import.meta.url));

export default defineConfig(({ command }) =>
  command === 'serve'
    ? { root: resolve(root, 'demo'), server: { fs: { allow: [root] } } }
    : {
        // Relative asset URLs: the worker chunk is found next to qlora-web.js wherever an app serves it.
        base: './',
        build: {
          outDir: 'dist',
          target: 'es2022',
          sourcemap: true,
          // Three entries: the app's surface, the layers beneath, and the worker script an app can start itself.
          lib: {
            entry: { 'qlora-web': resolve(root, 'src/index.ts'), runtime: resolve(root, 'src/runtime.ts'), worker: resolve(root, 'src/worker/worker.ts') },
            formats: ['es'],
            fileName: (_format, name) => `${name}.js`,
          },
          // Runtime dependencies stay imports: the app's bundler resolves them once.
          rollupOptions: { external: ['webgpu', 'comlink', 'idb-keyval', '@huggingface/tokenizers', '@huggingface/jinja'] },
        },
        worker: { format: 'es' },
      },
);
