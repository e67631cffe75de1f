// WGSL the ops' kernels include (//#include, src/gpu/wgsl-template.ts), by file name.
import workgroupReduce from '../../shaders/workgroup_reduce.wgsl?raw';
import { includeWgsl, type WgslLibrary } from '../gpu';

export const OPS_WGSL: WgslLibrary = { 'workgroup_reduce.wgsl': workgroupReduce };

/** A kernel file of the ops with its includes brought in. */
export const opsKernel = (shader: string, code: string) => includeWgsl(shader, code, OPS_WGSL);
