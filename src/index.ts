// qlora-web: fine-tune quantized LLaMA-family models in the browser on WebGPU.
// The public surface grows with each layer; today it is the GPU runtime and its first ops.
export * from './gpu';
export * from './ops';
export * from './quant';
export * from './model';
