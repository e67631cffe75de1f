// Elementwise f32 ops: add, mul, scale, and a vec4 copy (the bandwidth probe of the benchmarks).
import type { Runtime, Step, Tensor } from '../gpu';
import { numel, ShapeError, Uniforms } from '../gpu';
import code from '../../shaders/elementwise.wgsl?raw';
import { grid1d } from './grid';

function sameShape(op: string, ...ts: Tensor[]): number {
  const [first] = ts;
  for (const t of ts) {
    if (t.dtype !== 'f32') throw new ShapeError(`${op}: tensor '${t.label}' is ${t.dtype}, expected f32`);
    if (t.shape.length !== first.shape.length || t.shape.some((d, i) => d !== first.shape[i])) {
      throw new ShapeError(`${op}: '${t.label}' [${t.shape}] does not match '${first.label}' [${first.shape}]`);
    }
  }
  return numel(first.shape);
}

/** Elements (vec4s for copy4) one workgroup covers; copy4 moves 4 per invocation. */
const PER_WORKGROUP: Record<string, number> = { add: 256, mul: 256, scale: 256, copy4: 1024 };

async function launch(rt: Runtime, step: Step, entryPoint: string, n: number, alpha: number, tensors: Tensor[]) {
  const kernel = await rt.kernel({ shader: 'elementwise', code, entryPoint });
  const groups = grid1d(Math.ceil(n / PER_WORKGROUP[entryPoint]), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, new Uniforms(4).u32(n).f32(alpha).bytes, tensors, groups, `${entryPoint} ${n}`);
}

/** out = a + b */
export async function add(rt: Runtime, step: Step, a: Tensor, b: Tensor, out: Tensor) {
  return launch(rt, step, 'add', sameShape('add', a, b, out), 1, [a, b, out]);
}

/** out = a · b */
export async function mul(rt: Runtime, step: Step, a: Tensor, b: Tensor, out: Tensor) {
  return launch(rt, step, 'mul', sameShape('mul', a, b, out), 1, [a, b, out]);
}

/** out = alpha · a */
export async function scale(rt: Runtime, step: Step, a: Tensor, alpha: number, out: Tensor) {
  return launch(rt, step, 'scale', sameShape('scale', a, out), alpha, [a, out]);
}

/** dst = src through vec4 loads and stores; the element count must be a multiple of 4. */
export async function copy4(rt: Runtime, step: Step, src: Tensor, dst: Tensor) {
  const n = sameShape('copy4', src, dst);
  if (n % 4 !== 0) throw new ShapeError(`copy4: '${src.label}' has ${n} elements, not a multiple of 4`);
  return launch(rt, step, 'copy4', n / 4, 1, [src, dst]);
}
