// Compiled compute pipelines, keyed by shader source name, entry point and override constants.
// Compilation is asynchronous and happens once per key; compile errors become ShaderErrors that
// quote the WGSL line.
import { ShaderError } from './errors';

export interface KernelSpec {
  /** Name of the shader file (for messages and the cache key), e.g. 'matmul'. */
  shader: string;
  /** WGSL source, or a function that renders it: called only when `shader` is not compiled yet, so
   *  template rendering stays off the per-dispatch path. */
  code: string | (() => string);
  entryPoint: string;
  /** WGSL `override` values. */
  constants?: Record<string, number>;
}

export interface Kernel {
  readonly key: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

export class KernelCache {
  private readonly modules = new Map<string, Promise<GPUShaderModule>>();
  private readonly kernels = new Map<string, Promise<Kernel>>();

  constructor(private readonly device: GPUDevice) {}

  get(spec: KernelSpec): Promise<Kernel> {
    const constants = spec.constants ?? {};
    const key = `${spec.shader}:${spec.entryPoint}:${Object.keys(constants)
      .sort()
      .map((k) => `${k}=${constants[k]}`)
      .join(',')}`;
    let kernel = this.kernels.get(key);
    if (!kernel) {
      kernel = this.compile(key, spec, constants);
      this.kernels.set(key, kernel);
      kernel.catch(() => this.kernels.delete(key));
    }
    return kernel;
  }

  private module(spec: KernelSpec): Promise<GPUShaderModule> {
    let module = this.modules.get(spec.shader);
    if (!module) {
      module = (async () => {
        const code = typeof spec.code === 'string' ? spec.code : spec.code();
        const m = this.device.createShaderModule({ code, label: spec.shader });
        const info = await m.getCompilationInfo();
        const errors = info.messages.filter((msg) => msg.type === 'error');
        if (errors.length) {
          const lines = code.split('\n');
          const text = errors.map((e) => `line ${e.lineNum}: ${e.message}\n  ${lines[e.lineNum - 1]?.trim() ?? ''}`);
          throw new ShaderError(spec.shader, text.join('\n'));
        }
        return m;
      })();
      this.modules.set(spec.shader, module);
      module.catch(() => this.modules.delete(spec.shader));
    }
    return module;
  }

  private async compile(key: string, spec: KernelSpec, constants: Record<string, number>): Promise<Kernel> {
    const module = await this.module(spec);
    try {
      const pipeline = await this.device.createComputePipelineAsync({
        label: key,
        layout: 'auto',
        compute: { module, entryPoint: spec.entryPoint, constants },
      });
      return { key, pipeline, layout: pipeline.getBindGroupLayout(0) };
    } catch (e) {
      throw new ShaderError(spec.shader, `pipeline '${key}' failed: ${(e as Error).message}`);
    }
  }
}
