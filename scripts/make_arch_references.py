#!/usr/bin/env python3
#===- scripts/make_arch_references.py - transformers reference logits ------===#
#
#   make_arch_references.py OUT_DIR
#
# Writes one small random checkpoint per decoder family / RoPE variant that
# qopt imports (OUT_DIR/<name>/config.json + model.safetensors, float32) and
# transformers' logits for a fixed token sequence (OUT_DIR/<name>/
# reference.json):
#   prefill_logits      one forward over all `tokens` ([len][vocab])
#   incremental_logits  the same tokens fed one at a time through the KV cache
#                       (differs from prefill only for rope_type "dynamic",
#                       whose frequencies depend on the length of each call)
# Needs torch, transformers and safetensors (run on the device machine:
# the tests commit its output, tests/Inputs/arch/). Weights are drawn so that
# the logits are far from uniform (matrices N(0, 0.15^2), norms 1 + N(0,
# 0.1^2), biases N(0, 0.1^2)), from a fixed seed per model.
#
#===------------------------------------------------------------------------===#
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file

SEQ = 40
COMMON = dict(vocab_size=64, hidden_size=32, intermediate_size=64,
              num_hidden_layers=2, num_attention_heads=2,
              num_key_value_heads=1, rms_norm_eps=1e-5, bos_token_id=1,
              eos_token_id=2, tie_word_embeddings=False,
              torch_dtype="float32")

MODELS = {
    "llama-rope-llama3": ("llama", dict(
        max_position_embeddings=128,
        rope_scaling={"rope_type": "llama3", "factor": 8.0,
                      "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 16})),
    "llama-rope-linear": ("llama", dict(
        max_position_embeddings=128,
        rope_scaling={"rope_type": "linear", "factor": 4.0})),
    "llama-rope-dynamic": ("llama", dict(
        max_position_embeddings=16,
        rope_scaling={"rope_type": "dynamic", "factor": 2.0})),
    "llama-rope-yarn": ("llama", dict(
        max_position_embeddings=64,
        rope_scaling={"rope_type": "yarn", "factor": 4.0,
                      "original_max_position_embeddings": 16})),
    "qwen2": ("qwen2", dict(max_position_embeddings=128, rope_theta=1e6,
                            use_sliding_window=False)),
    "qwen2-tied": ("qwen2", dict(max_position_embeddings=128, rope_theta=1e6,
                                 use_sliding_window=False,
                                 tie_word_embeddings=True)),
    "mistral": ("mistral", dict(max_position_embeddings=128,
                                sliding_window=None)),
    "mistral-swa": ("mistral", dict(max_position_embeddings=128,
                                    sliding_window=24)),
}


def make(kind, extra):
    cfg = dict(COMMON)
    cfg.update(extra)
    if kind == "llama":
        return transformers.LlamaConfig(**cfg), transformers.LlamaForCausalLM
    if kind == "qwen2":
        return transformers.Qwen2Config(**cfg), transformers.Qwen2ForCausalLM
    return transformers.MistralConfig(**cfg), transformers.MistralForCausalLM


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name:
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.15 * noise)


def main():
    out = sys.argv[1]
    for seed, (name, (kind, extra)) in enumerate(sorted(MODELS.items())):
        cfg, cls = make(kind, extra)
        cfg._attn_implementation = "eager"
        model = cls(cfg).eval().float()
        randomize(model, 1000 + seed)
        g = torch.Generator().manual_seed(7 + seed)
        tokens = [1] + torch.randint(3, cfg.vocab_size, (SEQ - 1,),
                                     generator=g).tolist()
        ids = torch.tensor([tokens])
        with torch.no_grad():
            prefill = model(ids).logits[0]
            cache = transformers.DynamicCache()
            inc = []
            for i in range(SEQ):
                o = model(ids[:, i:i + 1], past_key_values=cache,
                          use_cache=True,
                          position_ids=torch.tensor([[i]]),
                          cache_position=torch.tensor([i]))
                cache = o.past_key_values
                inc.append(o.logits[0, -1])
            inc = torch.stack(inc)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        model.config.save_pretrained(d)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        if cfg.tie_word_embeddings:
            state.pop("lm_head.weight", None)
        save_file(state, os.path.join(d, "model.safetensors"),
                  metadata={"format": "pt"})
        ref = {
            "generator": "scripts/make_arch_references.py",
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "tokens": tokens,
            "prefill_logits": [[float("%.7g" % v) for v in row]
                               for row in prefill.tolist()],
            "incremental_logits": [[float("%.7g" % v) for v in row]
                                   for row in inc.tolist()],
        }
        with open(os.path.join(d, "reference.json"), "w") as f:
            json.dump(ref, f, separators=(",", ":"))
        diff = (prefill - inc).abs().max().item()
        print(f"{name}: {sum(p.numel() for p in model.parameters())} params, "
              f"prefill vs incremental max diff {diff:.3g}")


if __name__ == "__main__":
    main()
