#!/usr/bin/env python3
"""Parity fixtures for the LLaMA forward pass, from transformers in float32 on the GPU machine.

  models    OUT: builds the tiny seeded LLaMA configs below, saves each as an HF directory (bf16 weights,
            so loading exercises bf16) and writes reference.safetensors: input ids, attention mask,
            logits, per-layer hidden states and a 32-token greedy continuation, computed on the bf16
            weights upcast to float32.
  quantized OUT DEQ: the same inputs through the same models with every linear weight replaced by our
            dequantized NF4 G64 ICQ weight (DEQ/<name>.safetensors, written by dequantize.ts) →
            reference-nf4-icq.safetensors.
  micro     OUT MODEL DATA: micro-llama-6m's validation loss on the first 256-token window of each corpus
            (the protocol of its metrics.json: non-overlapping 256-token windows) → micro-llama-6m.json.

Fixtures store every tensor as float32 (token ids are small integers, exact in f32).
"""
import gzip
import inspect
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig, LlamaForCausalLM

ROPE_LLAMA3 = dict(rope_type='llama3', factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=32)
CONFIGS = {
    # grouped-query attention, untied head
    'gqa': dict(vocab_size=256, hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0,
                tie_word_embeddings=False),
    # tied embeddings, full multi-head attention
    'tied': dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=10000.0,
                 tie_word_embeddings=True),
    # llama3 rope scaling, one KV head, head_dim given explicitly (heads·head_dim ≠ hidden)
    'llama3': dict(vocab_size=320, hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4,
                   num_key_value_heads=1, head_dim=48, max_position_embeddings=256, rms_norm_eps=1e-5,
                   rope_theta=500000.0, rope_scaling=ROPE_LLAMA3, tie_word_embeddings=False),
}
BATCH, SEQ, PADS, PROMPT, NEW = 2, 12, 3, 6, 32


def make_config(spec):
    spec = dict(spec, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if 'rope_parameters' in inspect.signature(LlamaConfig.__init__).parameters:  # transformers 5
        rope = dict(spec.pop('rope_scaling', None) or {'rope_type': 'default'})
        rope['rope_theta'] = spec.pop('rope_theta')
        spec['rope_parameters'] = rope
    return LlamaConfig(**spec)


def inputs(vocab, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (BATCH, SEQ), generator=g)
    mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    mask[1, :PADS] = 0  # left padding in the second row
    ids[1, :PADS] = 0
    return ids, mask


def run(model, ids, mask):
    with torch.no_grad():
        out = model(input_ids=ids.cuda(), attention_mask=mask.cuda(), output_hidden_states=True)
    return out.logits.float().cpu(), [h.float().cpu() for h in out.hidden_states]


def build(out_dir):
    for i, (name, spec) in enumerate(CONFIGS.items()):
        torch.manual_seed(1000 + i)
        model = LlamaForCausalLM(make_config(spec))
        with torch.no_grad():
            for pname, p in model.named_parameters():
                p.copy_(1 + 0.2 * torch.randn_like(p) if 'norm' in pname else 0.08 * torch.randn_like(p))
        d = os.path.join(out_dir, name)
        model.to(torch.bfloat16).save_pretrained(d, safe_serialization=True)
        model = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32).cuda().eval()
        ids, mask = inputs(spec['vocab_size'], 2000 + i)
        logits, hidden = run(model, ids, mask)
        model.generation_config.eos_token_id = None
        prompt = ids[:1, :PROMPT].cuda()
        with torch.no_grad():
            greedy = model.generate(prompt, max_new_tokens=NEW, do_sample=False, pad_token_id=0)[0, PROMPT:].cpu()
        tensors = {'input_ids': ids.float(), 'attention_mask': mask.float(), 'logits': logits,
                   'greedy_prompt': ids[0, :PROMPT].float(), 'greedy_ids': greedy.float()}
        tensors.update({f'hidden.{j}': h for j, h in enumerate(hidden)})
        save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(d, 'reference.safetensors'))
        print(name, 'logits', tuple(logits.shape), 'greedy', greedy.tolist())


def quantized(out_dir, deq_dir):
    for i, (name, spec) in enumerate(CONFIGS.items()):
        d = os.path.join(out_dir, name)
        model = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32)
        state = load_file(os.path.join(deq_dir, f'{name}.safetensors'))
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert not unexpected and all('lm_head' in m for m in missing), (missing, unexpected)
        model.tie_weights()
        model = model.cuda().eval()
        ids, mask = inputs(spec['vocab_size'], 2000 + i)
        logits, _ = run(model, ids, mask)
        save_file({'logits': logits.contiguous()}, os.path.join(d, 'reference-nf4-icq.safetensors'))
        print(name, 'quantized logits', tuple(logits.shape))


def read_corpus(data_dir, corpus):
    """A corpus as text, from <corpus>.txt or, as scripts/reference/pack.sh carries it, <corpus>.txt.gz."""
    path = os.path.join(data_dir, corpus + '.txt')
    if os.path.exists(path):
        return open(path, encoding='utf8').read()
    with gzip.open(path + '.gz', 'rt', encoding='utf8') as f:
        return f.read()


def micro(out_dir, model_dir, data_dir):
    from tokenizers import Tokenizer
    model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).cuda().eval()
    tok = Tokenizer.from_file(os.path.join(model_dir, 'tokenizer.json'))
    result = {}
    for corpus in ['war_and_peace', 'sotu', 'tinyshakespeare']:
        text = read_corpus(data_dir, corpus)
        cut = text.rfind('\n', 0, int(0.9 * len(text)) + 1)  # valid = last 10 %, from the newline before 90 %
        ids = tok.encode(text[cut:]).ids
        x = torch.tensor(ids[:256], device='cuda')[None]
        with torch.no_grad():
            logits = model(x).logits[0].float()
        loss = torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:]).item()
        result[corpus] = {'valid_tokens': len(ids), 'first_window_ids': ids[:8], 'first_window_loss': loss}
        print(corpus, result[corpus])
    with open(os.path.join(out_dir, 'micro-llama-6m.json'), 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    mode, args = sys.argv[1], sys.argv[2:]
    {'models': build, 'quantized': quantized, 'micro': micro}[mode](*args)
