// vitest globalSetup of the Chromium project: one fault-injecting model server (./model-server.ts) serving the
// committed 'gqa' fixture with a character tokenizer under /gqa/; its URL reaches the tests through inject('modelServer').
import type { TestProject } from 'vitest/node';
import { startModelServer } from './model-server';
import { tinyTokenizerFiles } from './tiny-tokenizer';

declare module 'vitest' {
  export interface ProvidedContext {
    modelServer: string;
  }
}

export default async function setup(project: TestProject) {
  const server = await startModelServer();
  server.addDir('gqa', 'test/fixtures/llama/gqa');
  for (const [name, blob] of Object.entries(tinyTokenizerFiles())) server.addFile(`gqa/${name}`, new Uint8Array(await blob.arrayBuffer()));
  project.provide('modelServer', server.url);
  return () => server.close();
}
