// IR-QLoRA's elastic connection (shaders/iec.wgsl): the pooled input and repeated output paths around a LoRA adapter,
// weighted by learnable scalars, and those scalars' gradients.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, ShapeError, Uniforms } from '../gpu';
import kernelCode from '../../shaders/iec.wgsl?raw';
import { grid1d } from './grid';
import { opsKernel } from './wgsl';

const code = opsKernel('iec', kernelCode);

function chunk(wide: Tensor, narrow: Tensor, op: string): { rows: number; r: number; chunk: number } {
  const [rows, width] = wide.shape;
  const r = narrow.shape[1];
  if (width % r !== 0) throw new ShapeError(`${op}: ${width} features of '${wide.label}' are not ${r} equal chunks`);
  expectShape(narrow, [rows, r], op);
  return { rows, r, chunk: width / r };
}

function params(d: { rows: number; r: number; chunk: number }, scale: number, accumulate = false) {
  return new Uniforms(8).u32(d.rows).u32(d.r).u32(d.chunk).u32(accumulate ? 1 : 0).f32(scale).u32(0).u32(0).u32(0).bytes;
}

async function elementwise(rt: Runtime, step: Step, entryPoint: string, src: Tensor, dst: Tensor, beta: Tensor, d: { rows: number; r: number; chunk: number }, scale: number, n: number) {
  expectShape(beta, [1], entryPoint);
  const kernel = await rt.kernel({ shader: 'iec', code, entryPoint });
  step.dispatch(kernel, params(d, scale), [src, dst, beta], grid1d(Math.ceil(n / 256), rt.device.limits.maxComputeWorkgroupsPerDimension), `iec ${entryPoint} ${d.rows}x${d.r}x${d.chunk}`);
}

/** h [N, r] += scale·β·(x [N, in] summed over r chunks of in/r). */
export async function iecPoolAdd(rt: Runtime, step: Step, x: Tensor, h: Tensor, beta: Tensor, scale: number) {
  const d = chunk(x, h, 'iecPoolAdd');
  await elementwise(rt, step, 'pool_add', x, h, beta, d, scale, d.rows * d.r);
}

/** y [N, out] += scale·β·(h [N, r] repeated over r chunks of out/r). */
export async function iecExpandAdd(rt: Runtime, step: Step, h: Tensor, y: Tensor, beta: Tensor, scale: number) {
  const d = chunk(y, h, 'iecExpandAdd');
  await elementwise(rt, step, 'expand_add', h, y, beta, d, scale, d.rows * d.r * d.chunk);
}

/** Workgroups of the pooled dot product's first pass: enough to fill a GPU, each still striding over many elements. */
const DOT_WORKGROUPS = 256;

/** grad [1] (+)= scale·Σ a [N, r] · (b [N, r·C] summed over chunks of C). */
export async function iecPooledDot(rt: Runtime, step: Step, a: Tensor, b: Tensor, grad: Tensor, scale: number, accumulate: boolean) {
  const d = chunk(b, a, 'iecPooledDot');
  expectShape(grad, [1], 'iecPooledDot');
  const workgroups = Math.max(1, Math.min(DOT_WORKGROUPS, Math.ceil((d.rows * d.r * d.chunk) / (256 * 16))));
  const [partial, final] = await Promise.all([
    rt.kernel({ shader: 'iec', code, entryPoint: 'dot_partial' }),
    rt.kernel({ shader: 'iec', code, entryPoint: 'dot_final' }),
  ]);
  const partials = rt.tensor([workgroups], 'f32', 'iec dot partials');
  try {
    step.dispatch(partial, params(d, scale), [a, b, partials], [workgroups], `iec dot_partial ${d.rows}x${d.r}x${d.chunk}`);
    step.dispatch(final, params({ rows: workgroups, r: 1, chunk: 1 }, scale, accumulate), [partials, grad], [1], `iec dot_final ${workgroups}`);
  } finally {
    rt.free(partials);
  }
}
