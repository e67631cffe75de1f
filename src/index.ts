// qlora-web: fine-tune quantized LLaMA-family models in the browser on WebGPU.
// The public surface grows with each layer: the GPU runtime, ops, quantization, adapters, the model, training and storage.
export * from './gpu';
export * from './ops';
export * from './quant';
export * from './adapters';
export * from './model';
export * from './train';
export * from './storage';
export * from './worker';
