// Typed errors of the GPU runtime. Each names what is missing or wrong and what to change.

/** No WebGPU implementation or no adapter could be found. */
export class WebGPUUnavailableError extends Error {
  override name = 'WebGPUUnavailableError';
}

/** The adapter lacks a feature this runtime was asked to require. */
export class MissingFeatureError extends Error {
  override name = 'MissingFeatureError';
  constructor(readonly feature: string, detail = '') {
    super(`WebGPU adapter lacks the required feature '${feature}'${detail ? `: ${detail}` : ''}`);
  }
}

/** A requested size or count exceeds what the adapter (or device) allows. */
export class LimitError extends Error {
  override name = 'LimitError';
  constructor(readonly limit: string, readonly needed: number, readonly available: number, what = '') {
    super(
      `${what ? `${what}: ` : ''}needs ${limit} >= ${needed}, but the adapter allows ${available}` +
        ' (use a smaller model/shape, split the tensor, or run on a GPU with a larger limit)',
    );
  }
}

/** The GPU device was lost (driver reset, tab backgrounded, destroy()). Nothing on it survives. */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
  constructor(readonly reason: string, message: string) {
    super(`WebGPU device lost (${reason}): ${message || 'no message'}`);
  }
}

/** A WGSL module failed to compile or a pipeline failed validation. */
export class ShaderError extends Error {
  override name = 'ShaderError';
  constructor(readonly shader: string, message: string) {
    super(`shader '${shader}': ${message}`);
  }
}

/** A tensor's shape or dtype does not match what an op expects. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}
