#!/usr/bin/env python3
"""Step 2 of the PEFT round trip, on the GPU machine (transformers + peft there), for test/fixtures/peft/:

  ours       our exported adapter (OUT/ours/, written by peft-export.ts) loaded by PeftModel.from_pretrained onto the
             tiny 'gqa' model in float32; PEFT's logits for our inputs → OUT/ours/peft-logits.safetensors, and the
             relative difference to our logits printed.
  peft-made  a LoRA made by PEFT (r 4, α 8, all seven linears, B drawn from a seeded normal so it is not zero),
             saved with save_pretrained → OUT/peft-made/, with its logits for the model's reference inputs
             (reference.safetensors: input_ids, attention_mask, logits).
  dense      our dense bf16 export of a quantized model with IR-QLoRA folded in (OUT/dense/, from peft-export.ts) loaded
             by transformers; its logits against ours from the same files, printed, and saved with the inputs
             → OUT/dense/transformers-logits.safetensors.

  python3 peft_roundtrip.py FIXTURES OUT   (FIXTURES: test/fixtures/llama)
"""
import json
import os
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM

fixtures, out = sys.argv[1], sys.argv[2]
base = os.path.join(fixtures, 'gqa')


def model():
    return LlamaForCausalLM.from_pretrained(base, dtype=torch.float32).cuda().eval()


def logits_of(m, ids, mask):
    with torch.no_grad():
        return m(input_ids=ids.long().cuda(), attention_mask=mask.long().cuda()).logits.float().cpu()


ours = load_file(os.path.join(out, 'ours', 'ours-logits.safetensors'))
peft_ours = PeftModel.from_pretrained(model(), os.path.join(out, 'ours')).eval()
got = logits_of(peft_ours, ours['input_ids'], ours['attention_mask'])
mask = ours['attention_mask'].bool()
rel = float((got[mask] - ours['logits'][mask]).norm() / ours['logits'][mask].norm())
print(json.dumps({'ours_loaded_by_peft_relative_difference': rel}))
save_file({'logits': got.contiguous()}, os.path.join(out, 'ours', 'peft-logits.safetensors'))

torch.manual_seed(7)
cfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'])
made = get_peft_model(model(), cfg)
with torch.no_grad():
    for name, p in made.named_parameters():
        if 'lora_B' in name:
            p.copy_(torch.randn_like(p) * 0.05)
made.eval()
made.save_pretrained(os.path.join(out, 'peft-made'))
ref = load_file(os.path.join(base, 'reference.safetensors'))
save_file({'input_ids': ref['input_ids'], 'attention_mask': ref['attention_mask'],
           'logits': logits_of(made, ref['input_ids'], ref['attention_mask']).contiguous()},
          os.path.join(out, 'peft-made', 'reference.safetensors'))
print('peft-made saved')

# The dense export: bf16 weights with IR-QLoRA folded in, loaded by transformers as any checkpoint;
# its logits against ours from reading the same files.
dense_dir = os.path.join(out, 'dense')
if os.path.isdir(dense_dir):
    dense = LlamaForCausalLM.from_pretrained(dense_dir, dtype=torch.float32).cuda().eval()
    got = logits_of(dense, ours['input_ids'], ours['attention_mask'])
    mine = load_file(os.path.join(dense_dir, 'ours-logits.safetensors'))['logits']
    rel = float((got[mask] - mine[mask]).norm() / mine[mask].norm())
    print(json.dumps({'dense_export_loaded_by_transformers_relative_difference': rel}))
    save_file({'input_ids': ours['input_ids'], 'attention_mask': ours['attention_mask'], 'logits': got.contiguous()},
              os.path.join(dense_dir, 'transformers-logits.safetensors'))
