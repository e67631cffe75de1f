#!/usr/bin/env python3
"""The demo's embedded default model, made from scratch on the GPU machine (torch, transformers, tokenizers):

  corpora    War and Peace (Project Gutenberg) and the State of the Union addresses (U.S. federal works), both public
             domain, from the data directory (QLORA_DATA_DIR/data): the first 90 % of each (cut at a newline) trains, the rest validates.
             tinyshakespeare (public domain) is held out entirely: the demo fine-tunes on it, so fine-tuning visibly
             changes what the model writes.
  tokenizer  byte-level BPE, 2,048 tokens, trained on the two train splits; <|endoftext|> (id 0) is BOS, EOS and
             the document separator.
  model      LLaMA, hidden 256, 6 layers, 4 heads of 64 (2 KV heads), MLP 768, tied embeddings: 5.2 M parameters,
             10.5 MB in bf16. AdamW (lr 3e-3, cosine, 100 warmup steps, weight decay 0.1), 32 rows of 256 tokens per
             step, bf16 autocast; the step with the best validation loss (mean of the two corpora) is kept.

  python3 pretrain_demo_model.py DATA_DIR OUT_DIR [steps]     (OUT_DIR: demo/public/models/qlora-web-demo-5m)

Writes config.json, generation_config.json, model.safetensors (bf16), tokenizer.json, tokenizer_config.json,
chat_template.jinja and metrics.json (the log, validation perplexities of the saved bf16 weights, greedy samples).
"""
import json
import math
import os
import sys
import time

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM

data_dir, out = sys.argv[1], sys.argv[2]
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 1500
torch.manual_seed(0)
device = 'cuda'
os.makedirs(out, exist_ok=True)


def split(text):
    cut = text.rfind('\n', 0, int(len(text) * 0.9)) + 1
    return text[:cut], text[cut:]


corpora = {name: open(os.path.join(data_dir, f'{name}.txt'), encoding='utf-8').read() for name in ['war_and_peace', 'sotu', 'tinyshakespeare']}
parts = {name: split(text) for name, text in corpora.items()}
pretrain = ['war_and_peace', 'sotu']

EOT = '<|endoftext|>'
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.post_processor = processors.ByteLevel(trim_offsets=False)
trainer = trainers.BpeTrainer(vocab_size=2048, special_tokens=[EOT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
tok.train_from_iterator([parts[n][0] for n in pretrain], trainer=trainer)
tok.save(os.path.join(out, 'tokenizer.json'))
json.dump({'bos_token': EOT, 'eos_token': EOT, 'model_max_length': 1024, 'tokenizer_class': 'PreTrainedTokenizerFast'},
          open(os.path.join(out, 'tokenizer_config.json'), 'w'), indent=2)
with open(os.path.join(out, 'chat_template.jinja'), 'w') as f:
    f.write("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
eot = tok.token_to_id(EOT)


def ids_of(text):
    return torch.tensor(tok.encode(text).ids, dtype=torch.long)


train_ids = torch.cat([torch.cat([ids_of(parts[n][0]), torch.tensor([eot])]) for n in pretrain]).to(device)
valid_ids = {n: ids_of(parts[n][1]).to(device) for n in corpora}

config = LlamaConfig(vocab_size=2048, hidden_size=256, intermediate_size=768, num_hidden_layers=6, num_attention_heads=4,
                     num_key_value_heads=2, head_dim=64, max_position_embeddings=1024, rms_norm_eps=1e-5, rope_theta=10000.0,
                     tie_word_embeddings=True, bos_token_id=eot, eos_token_id=eot, pad_token_id=None)
model = LlamaForCausalLM(config).to(device)
params = sum(p.numel() for p in model.parameters())
T, B = 256, 32
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(1, s / steps))))


@torch.no_grad()
def valid_loss(m, ids):
    """Mean over full 256-token windows of each window's mean loss (as metrics.json of micro-llama-6m)."""
    m.eval()
    n = (len(ids) - 1) // T
    x = ids[: n * T].view(n, T)
    losses = []
    for i in range(0, n, 64):
        with torch.autocast('cuda', dtype=torch.bfloat16):
            losses.append(m(x[i:i + 64], labels=x[i:i + 64]).loss.float() * len(x[i:i + 64]))
    m.train()
    return float(sum(losses) / n)


log, best, best_state = [], float('inf'), None
g = torch.Generator(device=device).manual_seed(0)
t0 = time.time()
for step in range(steps + 1):
    if step % 100 == 0:
        v = {n: valid_loss(model, valid_ids[n]) for n in corpora}
        score = sum(v[n] for n in pretrain) / len(pretrain)
        log.append({'step': step, 'valid': v, 's': round(time.time() - t0, 1)})
        print(json.dumps(log[-1]), flush=True)
        if score < best:
            best, best_state = score, {k: t.detach().clone() for k, t in model.state_dict().items()}
    if step == steps:
        break
    starts = torch.randint(0, len(train_ids) - T - 1, (B,), device=device, generator=g)
    x = torch.stack([train_ids[s:s + T] for s in starts])
    with torch.autocast('cuda', dtype=torch.bfloat16):
        loss = model(x, labels=x).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)

model.load_state_dict(best_state)
model = model.to(torch.bfloat16)
model.save_pretrained(out, safe_serialization=True)
model = model.float()
final = {n: valid_loss(model, valid_ids[n]) for n in corpora}
greedy = {}
for prompt in ['My fellow Americans,', 'Prince Andrew', 'ROMEO:']:
    ids = ids_of(prompt).to(device)[None]
    gen = model.generate(ids, max_new_tokens=40, do_sample=False)[0, ids.shape[1]:].tolist()
    greedy[prompt] = {'ids': gen, 'text': prompt + tok.decode(gen)}
json.dump({'params': params, 'log': log, 'valid_ppl_bf16_weights': {n: math.exp(v) for n, v in final.items()}, 'greedy': greedy,
           'pretrained_on': pretrain, 'machine': torch.cuda.get_device_name(),
           'split': 'first 90% of each corpus (cut at a newline) = train, rest = valid'},
          open(os.path.join(out, 'metrics.json'), 'w'), indent=1)
print(json.dumps({'params': params, 'valid_ppl': {n: math.exp(v) for n, v in final.items()}, 'bytes': os.path.getsize(os.path.join(out, 'model.safetensors'))}))
for p, g_ in greedy.items():
    print(repr(g_['text']))
