// WGSL the ops' kernels include (//#include, src/gpu/wgsl-template.ts), by file name.
import f16Scale from '../../shaders/f16_scale.wgsl?raw';
import workgroupReduce from '../../shaders/workgroup_reduce.wgsl?raw';
import { includeWgsl, type WgslLibrary } from '../gpu';

export const OPS_WGSL: WgslLibrary = { 'workgroup_reduce.wgsl': workgroupReduce, 'f16_scale.wgsl': f16Scale };

/** A kernel file of the ops with its includes brought in. */
export const opsKernel = (shader: string, code: string) => includeWgsl(shader, code, OPS_WGSL);
