// Bundles the Node benchmark entries into .device/ for the GPU machine; `webgpu` stays external
// (it resolves to .device/node_modules/webgpu there), WGSL is inlined.
import { execSync } from 'node:child_process';
import { defineConfig } from 'vite';

const commit = (() => {
  try {
    return execSync('git rev-parse --short HEAD').toString().trim();
  } catch {
    return 'unknown';
  }
})();

export default defineConfig({
  define: { __COMMIT__: JSON.stringify(commit) },
  // Everything but webgpu is bundled: the GPU machine has no node_modules besides it.
  ssr: { noExternal: true },
  build: {
    ssr: true,
    outDir: '.device',
    emptyOutDir: false,
    target: 'node20',
    minify: false,
    rollupOptions: {
      input: { bench: 'bench/node.ts', methods: 'bench/methods-node.ts', dequantize: 'scripts/reference/dequantize.ts', 'peft-export': 'scripts/reference/peft-export.ts' },
      external: ['webgpu'],
      output: { format: 'es', entryFileNames: '[name].mjs' },
    },
  },
});
