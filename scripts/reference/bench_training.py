#!/usr/bin/env python3
"""The eager-PyTorch side of the training benchmark (BENCHMARKS.md, issue: training): the same LoRA step as
bench/train-suite.ts on the TinyLlama-1.1B shape, seeded random weights, run on the GPU machine in the same device
call as our WebGPU bench.

Each linear holds 4-bit NF codes (one per byte) and an absmax per group of 64, dequantized to a full matrix inside
its forward and again in its backward (as bitsandbytes' QLoRA linears do; no weight gradient), with a PEFT-style
LoRA r 16 (α 16) on q, k, v, o, gate, up and down; RMSNorm, RoPE, grouped-query SDPA, SwiGLU, an f32 LM head, the
mean cross-entropy; AdamW on the LoRA tensors. Compute in float32 (as ours) and, for context, in bfloat16 autocast.

  python3 bench_training.py OUT.json
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

H, INTER, LAYERS, HEADS, KV, VOCAB, G, RANK = 2048, 5632, 22, 32, 4, 32000, 64, 16
D = H // HEADS
NF4 = torch.tensor([-1, -0.6961928, -0.5250731, -0.3949175, -0.2844414, -0.1847734, -0.0910500, 0, 0.0795803,
                    0.1609302, 0.2461123, 0.3379152, 0.4407098, 0.5626170, 0.7229568, 1.0])


class Dequant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, layer):
        ctx.layer = layer
        return x @ layer.weight(x.dtype).T

    @staticmethod
    def backward(ctx, dy):
        return dy @ ctx.layer.weight(dy.dtype), None


class QLinear(torch.nn.Module):
    def __init__(self, out_f, in_f, gen):
        super().__init__()
        w = torch.randn(out_f, in_f, generator=gen, device='cuda') * 0.02
        blocks = w.view(-1, G)
        absmax = blocks.abs().amax(1, keepdim=True)
        levels = NF4.cuda()
        codes = (blocks / absmax).unsqueeze(-1).sub(levels).abs().argmin(-1).to(torch.uint8)
        self.register_buffer('codes', codes.view(out_f, in_f))
        self.register_buffer('absmax', absmax.view(out_f, in_f // G))
        self.register_buffer('levels', levels)
        self.lora_A = torch.nn.Parameter(torch.empty(RANK, in_f, device='cuda').uniform_(-1 / math.sqrt(in_f), 1 / math.sqrt(in_f)))
        self.lora_B = torch.nn.Parameter(torch.zeros(out_f, RANK, device='cuda'))

    def weight(self, dtype):
        w = self.levels[self.codes.long()].view(self.codes.shape[0], -1, G) * self.absmax.unsqueeze(-1)
        return w.view(self.codes.shape).to(dtype)

    def forward(self, x):
        return Dequant.apply(x, self) + (x @ self.lora_A.T.to(x.dtype)) @ self.lora_B.T.to(x.dtype)


def rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))


class Layer(torch.nn.Module):
    def __init__(self, gen):
        super().__init__()
        self.q, self.k, self.v, self.o = QLinear(H, H, gen), QLinear(KV * D, H, gen), QLinear(KV * D, H, gen), QLinear(H, H, gen)
        self.gate, self.up, self.down = QLinear(INTER, H, gen), QLinear(INTER, H, gen), QLinear(H, INTER, gen)
        self.register_buffer('n1', torch.ones(H, device='cuda'))
        self.register_buffer('n2', torch.ones(H, device='cuda'))

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        h = rms(x, self.n1)
        q = self.q(h).view(B, T, HEADS, D).transpose(1, 2)
        k = self.k(h).view(B, T, KV, D).transpose(1, 2)
        v = self.v(h).view(B, T, KV, D).transpose(1, 2)
        rot = lambda t: torch.cat((-t[..., D // 2:], t[..., :D // 2]), -1)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(HEADS // KV, 1), v.repeat_interleave(HEADS // KV, 1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, H)
        x = x + self.o(a)
        h = rms(x, self.n2)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


def run(batch, seq, checkpointing, dtype, steps=6, warmup=2):
    gen = torch.Generator(device='cuda').manual_seed(0)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    embed = torch.randn(VOCAB, H, generator=gen, device='cuda') * 0.02
    head = torch.randn(VOCAB, H, generator=gen, device='cuda') * 0.02
    layers = torch.nn.ModuleList([Layer(gen) for _ in range(LAYERS)])
    params = [p for p in layers.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    inv = 1.0 / (10000 ** (torch.arange(0, D, 2, device='cuda').float() / D))
    ang = torch.arange(seq, device='cuda').float()[:, None] * inv[None]
    emb = torch.cat((ang, ang), -1)
    cos, sin = emb.cos().to(dtype), emb.sin().to(dtype)
    ids = torch.randint(0, VOCAB, (batch, seq), generator=gen, device='cuda')
    times = []
    for i in range(warmup + steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            x = embed[ids]
            for layer in layers:
                x = checkpoint(layer, x, cos, sin, use_reentrant=False) if checkpointing else layer(x, cos, sin)
            logits = rms(x, torch.ones(H, device='cuda')) @ head.T.to(x.dtype)
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB).float(), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    ms = 1e3 * sum(times) / len(times)
    row = dict(batch=batch, seq=seq, checkpointing=checkpointing, dtype=str(dtype).replace('torch.', ''),
               ms_per_step=ms, tokens_per_second=batch * seq / (ms / 1e3), peak_bytes=torch.cuda.max_memory_allocated())
    print(json.dumps(row), flush=True)
    del layers, opt, params, embed, head
    return row


if __name__ == '__main__':
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        for batch in (1, 4):
            for ckpt in (False, True):
                rows.append(run(batch, 512, ckpt, dtype))
    json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__, rows=rows), open(sys.argv[1], 'w'), indent=1)
