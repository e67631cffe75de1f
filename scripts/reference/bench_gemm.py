#!/usr/bin/env python3
"""cuBLAS beside the quantized GEMMs of bench/matrix-suite.ts: torch.matmul in bfloat16 and float16 (and float32
with TF32 off) at the same M × out × in, forward X·Wᵀ and backward dY·W, on the GPU machine in the same device call.
A dense matmul is the ceiling our quantized kernels aim at: it reads a dense bf16 weight, they decode 2–4-bit codes.

  python3 bench_gemm.py OUT.json
"""
import json
import sys

import torch

torch.backends.cuda.matmul.allow_tf32 = False


def timed(fn, iters=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(5):
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000 / iters)
    return sorted(times)[len(times) // 2]


rows = []
for direction in ('forward', 'backward'):
    for m in (512, 2048):
        for out_f, in_f in ((4096, 4096), (11008, 4096), (4096, 11008)):
            for dtype in (torch.bfloat16, torch.float16, torch.float32):
                w = torch.randn(out_f, in_f, device='cuda', dtype=dtype)
                if direction == 'forward':
                    a = torch.randn(m, in_f, device='cuda', dtype=dtype)
                    s = timed(lambda: a @ w.T)
                else:
                    a = torch.randn(m, out_f, device='cuda', dtype=dtype)
                    s = timed(lambda: a @ w)
                tflops = 2 * m * out_f * in_f / s / 1e12
                rows.append({'direction': direction, 'M': m, 'out': out_f, 'in': in_f, 'dtype': str(dtype).split('.')[-1],
                             'seconds': s, 'tflops': tflops})
                print(f"{direction} M={m} {out_f}x{in_f} {rows[-1]['dtype']}: {tflops:.1f} TFLOP/s", flush=True)
json.dump({'device': torch.cuda.get_device_name(), 'torch': torch.__version__, 'rows': rows}, open(sys.argv[1], 'w'), indent=1)
