// Library build of src/index.ts (ESM, WGSL inlined as strings) for `npm run build`, and the demo app
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
          lib: { entry: resolve(root, 'src/index.ts'), formats: ['es'], fileName: () => 'qlora-web.js' },
          // Runtime dependencies stay imports: the app's bundler resolves them once.
          rollupOptions: { external: ['webgpu', 'comlink', 'idb-keyval', '@huggingface/tokenizers', '@huggingface/jinja'] },
        },
        worker: { format: 'es' },
      },
);
