// The matmul family's WGSL (shaders/matmul/), by file name: a launcher renders one kernel file, and the template step
// brings in the files it includes (//#include, src/gpu/wgsl-template.ts).
import codeFloats from '../../shaders/matmul/code_floats.wgsl?raw';
import dequant from '../../shaders/matmul/dequant.wgsl?raw';
import gatherRows from '../../shaders/matmul/gather_rows.wgsl?raw';
import gemv from '../../shaders/matmul/gemv.wgsl?raw';
import gemvOutput from '../../shaders/matmul/gemv_output.wgsl?raw';
import gemvSlices from '../../shaders/matmul/gemv_slices.wgsl?raw';
import gemvStore from '../../shaders/matmul/gemv_store.wgsl?raw';
import gemvUnits from '../../shaders/matmul/gemv_units.wgsl?raw';
import matmul from '../../shaders/matmul/matmul.wgsl?raw';
import matmulMma from '../../shaders/matmul/matmul_mma.wgsl?raw';
import scaleRowsF16 from '../../shaders/matmul/scale_rows_f16.wgsl?raw';
import f16Scale from '../../shaders/f16_scale.wgsl?raw';
import workgroupReduce from '../../shaders/workgroup_reduce.wgsl?raw';
import type { WgslLibrary } from '../gpu';

export const MATMUL_WGSL: WgslLibrary = {
  'code_floats.wgsl': codeFloats, 'dequant.wgsl': dequant, 'gather_rows.wgsl': gatherRows, 'gemv.wgsl': gemv, 'gemv_output.wgsl': gemvOutput,
  'gemv_slices.wgsl': gemvSlices, 'gemv_store.wgsl': gemvStore, 'gemv_units.wgsl': gemvUnits, 'matmul.wgsl': matmul,
  'matmul_mma.wgsl': matmulMma, 'scale_rows_f16.wgsl': scaleRowsF16, 'f16_scale.wgsl': f16Scale, 'workgroup_reduce.wgsl': workgroupReduce,
};
