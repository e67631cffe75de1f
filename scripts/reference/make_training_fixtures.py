#!/usr/bin/env python3
"""Parity fixtures for training: the loss, every LoRA gradient, and the LoRA tensors after three AdamW steps with
gradient clipping and a warmup schedule, for the tiny LLaMAs of test/fixtures/llama/.

The LLaMA forward is written out from its formulas (RMSNorm, rotate-half RoPE with default and llama3 frequencies,
grouped-query attention with causal and padding masks, SwiGLU, a tied or untied head) in float64 with torch, LoRA as
PEFT computes it (y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ), the loss as transformers computes it (logits[:, :-1] against labels[:, 1:],
mean over labels ≠ −100), gradients by autograd, clip_grad_norm_ and torch.optim.AdamW, and the LR by HF's
get_linear_schedule_with_warmup (lr · λ(s) for update s = 0, 1, 2).

  python3 make_training_fixtures.py FIXTURES OUT [DEQ]
    FIXTURES: test/fixtures/llama (config.json, model.safetensors per model)
    OUT:      test/fixtures/train (<model>.safetensors, <model>-qalora.safetensors: QA-LoRA with groups of 32 as
              docs/methods.md has it, <model>-iec.safetensors: LoRA with IR-QLoRA's IEC, βA = 0.3 and βB = −0.2 to start,
              <model>-q-blora / -qa-blora.safetensors: BLoRA's pooled input (pairs averaged, or groups of 32 summed),
              rank 2r, each output of B repeated twice, <model>-qa-blora-authors.safetensors: one matrix A [out/8, in/4]
              over inputs averaged in fours, outputs repeated 8 times, A random (not zero) so the forward uses it,
              <model>-qalora-iec.safetensors: QA-LoRA with IEC (βA·poolr of the raw x, as docs/methods.md has it),
              and <model>-nf4-icq.safetensors when DEQ is given)
    DEQ:      dequantized NF4 G64 ICQ weights per model (DEQ/<model>.safetensors, from dequantize.ts), for the
              fixtures of a quantized base

Produced on the project's development machine (CPU, Debian's python3-torch 1.13) by /usr/bin/python3; no
transformers or PEFT are needed. Every tensor is stored as float32. DEQ was written there too, by the bundled
dequantize step (`npx vite build --config scripts/vite.bench.config.ts`, then
`VK_DRIVER_FILES=/usr/lib/chromium/vk_swiftshader_icd.json node .device/dequantize.mjs test/fixtures/llama DEQ`).
"""
import json
import math
import os
import struct
import sys

import torch

RANK, ALPHA = 4, 8.0
QA_GROUP = 32  # QA-LoRA's pooling group
# eps 1e-6, not AdamW's default 1e-8: with 1e-8 an element whose gradient is ~1e-5 of its tensor's scale (5e-8 in
# llama3's layer 2 up_proj B) takes an update m/√v that is mostly the f32 rounding of that gradient, and its tensor
# then differs from the float64 reference by 1.2e-4 relative after three steps (every other tensor by ≤ 5.4e-5).
LR, WEIGHT_DECAY, BETAS, EPS, MAX_NORM = 1e-2, 0.01, (0.9, 0.999), 1e-6, 0.5
WARMUP, STEPS = 2, 3
BATCH, SEQ, PADS, PROMPT = 2, 12, 3, 4
TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        a, b = e['data_offsets']
        dtype = {'F32': torch.float32, 'BF16': torch.bfloat16, 'F16': torch.float16}[e['dtype']]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=dtype).reshape(e['shape']).to(torch.float64)
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    js = json.dumps(header).encode()
    js += b' ' * ((8 - (8 + len(js)) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(js)) + js + b''.join(blobs))


def inv_freq(cfg, head_dim):
    rope = cfg.get('rope_parameters') or dict(cfg.get('rope_scaling') or {}, rope_theta=cfg.get('rope_theta', 10000.0))
    theta = rope.get('rope_theta', 10000.0)
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    if rope.get('rope_type', rope.get('type', 'default')) != 'llama3':
        return inv.to(torch.float64)
    factor, low, high = rope['factor'], rope['low_freq_factor'], rope['high_freq_factor']
    old = rope['original_max_position_embeddings']
    low_wavelen, high_wavelen = old / low, old / high
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, scaled).to(torch.float64)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(cfg, w, lora, ids, mask, pool=None):
    H, heads, kv = cfg['hidden_size'], cfg['num_attention_heads'], cfg.get('num_key_value_heads', cfg['num_attention_heads'])
    D = cfg.get('head_dim') or H // heads
    eps = cfg['rms_norm_eps']
    s = ALPHA / RANK
    B, T = ids.shape

    def rms(x, weight):
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def linear(x, name):
        y = x @ w[name + '.weight'].T
        if name in lora and len(lora[name]) == 1:  # QA-BLoRA as its authors coded it
            pooled = x.reshape(*x.shape[:-1], -1, 4).mean(-1)
            return y + s * (pooled @ lora[name][0].T).repeat_interleave(8, dim=-1)
        if name in lora:
            a, b = lora[name][:2]
            xin = x
            if pool:  # (G, mean, R): the input pooled over groups of G (QA-LoRA: sums; Q-BLoRA: means of pairs)
                grouped = x.reshape(*x.shape[:-1], -1, pool[0])
                xin = grouped.mean(-1) if pool[1] else grouped.sum(-1)
            h = xin @ a.T
            if pool and pool[2] > 1:  # BLoRA: each output of B repeated R times
                return y + s * (h @ b.T).repeat_interleave(pool[2], dim=-1)
            if len(lora[name]) == 4:  # IEC: h += βA·poolr(x); y_lora = s·(B·h + βB·repeat(h))
                beta_a, beta_b = lora[name][2:]
                h = h + beta_a * x.reshape(*x.shape[:-1], RANK, -1).mean(-1)
                y = y + s * (h @ b.T + beta_b * h.repeat_interleave(b.shape[0] // RANK, dim=-1))
            else:
                y = y + s * (h @ b.T)
        return y

    angles = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq(cfg, D).to(torch.float32)[None, :]
    emb = torch.cat((angles, angles), dim=-1).to(torch.float64)
    cos, sin = emb.cos(), emb.sin()
    visible = torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None] & mask.bool()[:, None, None, :]
    x = w['model.embed_tokens.weight'][ids]
    for l in range(cfg['num_hidden_layers']):
        p = f'model.layers.{l}.'
        h = rms(x, w[p + 'input_layernorm.weight'])
        q = linear(h, p + 'self_attn.q_proj').view(B, T, heads, D).transpose(1, 2)
        k = linear(h, p + 'self_attn.k_proj').view(B, T, kv, D).transpose(1, 2)
        v = linear(h, p + 'self_attn.v_proj').view(B, T, kv, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(heads // kv, dim=1)
        v = v.repeat_interleave(heads // kv, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        attn = torch.softmax(scores.masked_fill(~visible, float('-inf')), dim=-1) @ v
        x = x + linear(attn.transpose(1, 2).reshape(B, T, heads * D), p + 'self_attn.o_proj')
        h = rms(x, w[p + 'post_attention_layernorm.weight'])
        g = linear(h, p + 'mlp.gate_proj')
        x = x + linear(torch.nn.functional.silu(g) * linear(h, p + 'mlp.up_proj'), p + 'mlp.down_proj')
    x = rms(x, w['model.norm.weight'])
    head = w['model.embed_tokens.weight'] if cfg.get('tie_word_embeddings') else w['lm_head.weight']
    return x @ head.T


def loss_of(logits, labels):
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


def batch(vocab, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (BATCH, SEQ), generator=g)
    mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    mask[1, SEQ - PADS:] = 0  # right padding in the second row
    ids[1, SEQ - PADS:] = 0
    labels = ids.clone()
    labels[mask == 0] = -100
    labels[0, :PROMPT] = -100  # a prompt in the first row: not scored
    return ids, mask, labels


def lr_lambda(step):
    if step < WARMUP:
        return step / max(1, WARMUP)
    return max(0.0, (STEPS - step) / max(1, STEPS - WARMUP))


def make(cfg, w, seed, pool=None, iec=False, authors=False):
    torch.manual_seed(seed)
    lora, tensors = {}, {}
    for l in range(cfg['num_hidden_layers']):
        for t in TARGETS:
            name = f'model.layers.{l}.{"mlp" if t in ("gate_proj", "up_proj", "down_proj") else "self_attn"}.{t}'
            out_f, in_f = w[name + '.weight'].shape
            cols = in_f // pool[0] if pool else in_f
            rank = RANK * (2 if pool and pool[2] > 1 else 1)  # BLoRA: twice the rank
            bound = math.sqrt(6 / (cols + rank)) if pool else 1 / math.sqrt(in_f)
            a = (torch.rand(rank, cols, dtype=torch.float64) * 2 - 1) * bound
            b = torch.randn(out_f // (pool[2] if pool else 1), rank, dtype=torch.float64) * 0.05  # not zero, so A has a gradient
            # The fixture stores f32 values; the reference starts from exactly those.
            lora[name] = [a.float().double().requires_grad_(), b.float().double().requires_grad_()]
            if authors:
                lora[name] = [(torch.randn(out_f // 8, in_f // 4, dtype=torch.float64) * 0.05).float().double().requires_grad_()]
            if iec:
                lora[name] += [torch.tensor([0.3], dtype=torch.float64, requires_grad=True), torch.tensor([-0.2], dtype=torch.float64, requires_grad=True)]
    ids, mask, labels = batch(cfg['vocab_size'], seed + 1)
    keys = lambda name: [f'base_model.model.{name}.{k}' for k in ('lora_A.weight', 'lora_B.weight', 'iec_beta_A', 'iec_beta_B')]
    for name, ps in lora.items():
        for key, p in zip(keys(name), ps):
            tensors[key] = p.detach().clone()
    tensors['input_ids'], tensors['attention_mask'], tensors['labels'] = ids.double(), mask.double(), labels.double()

    params = [p for pair in lora.values() for p in pair]
    opt = torch.optim.AdamW(params, lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY, foreach=False)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    losses, norms = [], []
    for step in range(STEPS):
        opt.zero_grad()
        loss = loss_of(forward(cfg, w, lora, ids, mask, pool), labels)
        loss.backward()
        if step == 0:
            tensors['loss'] = loss.detach().reshape(1)
            for name, ps in lora.items():
                for key, p in zip(keys(name), ps):
                    tensors[f'{key}.grad'] = p.grad.clone()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, MAX_NORM)))
        losses.append(float(loss))
        opt.step()
        sched.step()
    for name, ps in lora.items():
        for key, p in zip(keys(name), ps):
            tensors[f'{key}.step{STEPS}'] = p.detach().clone()
    tensors['step_losses'] = torch.tensor(losses, dtype=torch.float64)
    tensors['step_grad_norms'] = torch.tensor(norms, dtype=torch.float64)
    return tensors


def main(fixtures, out, deq=None):
    os.makedirs(out, exist_ok=True)
    for i, name in enumerate(sorted(os.listdir(fixtures))):
        d = os.path.join(fixtures, name)
        if not os.path.isfile(os.path.join(d, 'config.json')):
            continue
        cfg = json.load(open(os.path.join(d, 'config.json')))
        w = read_safetensors(os.path.join(d, 'model.safetensors'))
        write_safetensors(os.path.join(out, f'{name}.safetensors'), make(cfg, w, 3000 + i))
        if name == 'gqa':
            write_safetensors(os.path.join(out, f'{name}-qalora.safetensors'), make(cfg, w, 3100 + i, (QA_GROUP, False, 1)))
            write_safetensors(os.path.join(out, f'{name}-q-blora.safetensors'), make(cfg, w, 3300 + i, (2, True, 2)))
            write_safetensors(os.path.join(out, f'{name}-qa-blora.safetensors'), make(cfg, w, 3400 + i, (QA_GROUP, False, 2)))
            write_safetensors(os.path.join(out, f'{name}-qa-blora-authors.safetensors'), make(cfg, w, 3500 + i, authors=True))
            write_safetensors(os.path.join(out, f'{name}-qalora-iec.safetensors'), make(cfg, w, 3600 + i, (QA_GROUP, False, 1), iec=True))
            write_safetensors(os.path.join(out, f'{name}-iec.safetensors'), make(cfg, w, 3200 + i, iec=True))
        if deq:
            wq = read_safetensors(os.path.join(deq, f'{name}.safetensors'))
            write_safetensors(os.path.join(out, f'{name}-nf4-icq.safetensors'), make(cfg, wq, 3000 + i))
        print(name, 'done')


if __name__ == '__main__':
    main(*sys.argv[1:])
