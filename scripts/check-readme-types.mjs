// The README's TypeScript snippets, type-checked as an app that installed the package would see them: each ```ts block
// becomes a module under .readme-types/ that imports 'qlora-web' and 'qlora-web/runtime' through package.json's
// `exports` (so against dist/types, the published .d.ts; run `npm run build` first), strict. The values a snippet
// takes from its surroundings (the user's text, a tensor made earlier) are declared in GLOBALS below.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const DIR = '.readme-types';
const GLOBALS = `
type R = typeof import('qlora-web/runtime');
declare const myText: string, text: string, heldOutText: string, key: string;
declare const onProgress: import('qlora-web').ProgressCallback;
declare function show(piece: string): void;
declare const rt: import('qlora-web/runtime').Runtime, step: import('qlora-web/runtime').Step, source: import('qlora-web/runtime').ModelSource;
declare const W: import('qlora-web/runtime').Tensor, X: import('qlora-web/runtime').Tensor, Y: import('qlora-web/runtime').Tensor;
declare const dY: import('qlora-web/runtime').Tensor, dX: import('qlora-web/runtime').Tensor, QKV: import('qlora-web/runtime').Tensor;
declare const qWeight: import('qlora-web/runtime').QuantizedWeight, kWeight: import('qlora-web/runtime').QuantizedWeight, vWeight: import('qlora-web/runtime').QuantizedWeight;
declare const abortController: AbortController, quant: import('qlora-web/runtime').QuantSpec;
declare const model: import('qlora-web/runtime').LlamaModel, set: import('qlora-web/runtime').AdapterSet, data: import('qlora-web/runtime').Dataset;
declare const options: import('qlora-web/runtime').TrainOptions, sameOptions: import('qlora-web/runtime').TrainOptions;
`;
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: ['@webgpu/types'],
    strict: true, noEmit: true, skipLibCheck: false, isolatedModules: true,
  },
  include: ['*.ts'],
};

const blocks = [...readFileSync('README.md', 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
rmSync(DIR, { recursive: true, force: true });
mkdirSync(DIR);
writeFileSync(`${DIR}/globals.d.ts`, GLOBALS);
writeFileSync(`${DIR}/tsconfig.json`, JSON.stringify(TSCONFIG, null, 2));
// Every snippet is a module of its own (top-level await, its own imports), so names never clash between snippets.
blocks.forEach((code, i) => writeFileSync(`${DIR}/snippet-${i + 1}.ts`, `${code}\nexport {};\n`));
try {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', DIR], { stdio: 'inherit' });
  console.log(`README: ${blocks.length} TypeScript snippets type-check against the published types`);
} catch {
  console.error(`README: a snippet does not type-check (the files are in ${DIR}/, numbered in README order)`);
  process.exit(1);
}
