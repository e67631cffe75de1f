// The kernel suites in a dedicated worker (bench/browser.ts starts it): lines as they come, then the report.
import { runKernelSuites } from './kernel-suites';

self.onmessage = async () => {
  try {
    const report = await runKernelSuites((line) => postMessage({ line }));
    postMessage({ report });
  } catch (e) {
    postMessage({ error: `${(e as Error).name}: ${(e as Error).message}` });
  }
};
