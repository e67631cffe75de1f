// Library build of src/index.ts (ESM, WGSL inlined as strings) for `npm run build`, and the demo app
// (root demo/) for `npm run demo`. Tests have their own config: vitest.config.ts.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig(({ command }) =>
  command === 'serve'
    ? { root: resolve(__dirname, 'demo'), server: { fs: { allow: [__dirname] } } }
    : {
        // Relative asset URLs: the worker chunk is found next to qlora-web.js wherever an app serves it.
        base: './',
        build: {
          outDir: 'dist',
          target: 'es2022',
          sourcemap: true,
          lib: { entry: resolve(__dirname, 'src/index.ts'), formats: ['es'], fileName: () => 'qlora-web.js' },
          // Runtime dependencies stay imports: the app's bundler resolves them once.
          rollupOptions: { external: ['webgpu', 'comlink', 'idb-keyval', '@huggingface/tokenizers', '@huggingface/jinja'] },
        },
        worker: { format: 'es' },
      },
);
