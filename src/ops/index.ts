// src/ops: one file per op, forward (and, where the model needs it, backward) launches side by side.
// Each op checks shapes at its boundary and records into a Step; none submits.
export { argmaxRows } from './argmax';
export { attentionBackward, attentionForward, writeKv, type AttentionGradients, type AttentionWindow } from './attention';
export { crossEntropyForward, crossEntropyForwardBackward, IGNORE_TARGET } from './cross-entropy';
export { add, copy4, mul, scale } from './elementwise';
export { blockEnd, embeddingForward, WHOLE, type RowBlock } from './embedding';
export { placeColumns, takeColumns } from './columns';
export { grid1d } from './grid';
export { rowF16Scale, rowMax, rowSum } from './reduce';
export { rmsnormBackward, rmsnormForward } from './rmsnorm';
export { ropeBackward, ropeForward, ropeTable } from './rope';
export { swigluBackward, swigluForward } from './swiglu';
export { dropoutBackwardAdd, dropoutForward } from './dropout';
export { adamwPartialsShape, adamwStep, type AdamWBuffers, type AdamWSettings } from './adamw';
export { loraDown, loraGradA, loraGradB, loraUpBackward, lowRankKernelFits } from './lora';
export { addToOffsets, groupExpandAdd, groupSum } from './qalora';
export { iecExpandAdd, iecPooledDot, iecPoolAdd } from './iec';
