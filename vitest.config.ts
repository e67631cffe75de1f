// Two projects run the same unit tests: Node over Dawn + SwiftShader, and headless Chromium's WebGPU
// (also SwiftShader on machines without a GPU). The environment is in the file name, never the folder: *.browser.test.ts
// only a browser can run, *.node.test.ts only Node (files outside the project root), *.e2e.test.ts is the demo end to end.
import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';
import { CHROMIUM_PATH as CHROMIUM, CHROMIUM_WEBGPU_ARGS } from './scripts/chromium.mjs';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 60_000,
    projects: [
      {
        // extends: the root's timeouts apply inside each project (without it a project gets vitest's 5 s default).
        extends: true,
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.browser.test.ts', 'test/**/*.e2e.test.ts'],
          env: { VK_DRIVER_FILES: process.env.VK_DRIVER_FILES ?? SWIFTSHADER_ICD },
        },
      },
      {
        extends: true,
        test: {
          name: 'chromium',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/helpers/model-server-setup.ts'],
          exclude: ['test/**/*.node.test.ts', 'test/**/*.e2e.test.ts'],
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({ launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_WEBGPU_ARGS } }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
      {
        // The demo end to end (Playwright drives Chromium from Node): `npm run test:e2e`. Not in `npm test`: on a CPU
        // WebGPU (SwiftShader) its training steps take ~8 minutes.
        extends: true,
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/**/*.e2e.test.ts'],
          env: { VK_DRIVER_FILES: process.env.VK_DRIVER_FILES ?? SWIFTSHADER_ICD },
        },
      },
    ],
  },
});
