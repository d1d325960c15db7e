"""The judge of greedy generation: transformers' `generate(do_sample=False)` on the fixture
decoders of tests/python/make_decoders.py, for a few plain and chat prompts, written to
onnx/decoders/{gpt2,llama}/greedy.json (prompt ids, generated ids, decoded text).

The PyTorch models are rebuilt from the same seeded configs (the fixtures commit only the
ONNX); before anything is written, each rebuilt model's logits are checked against
onnxruntime's on the committed model.onnx (case.json's first step), so the references are of
the committed model.

usage (the venv of make_decoders.py):
  /tmp/fixvenv/bin/python tests/python/make_greedy.py
"""
import json
import pathlib
import sys

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_decoders  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAIN = [
    ("Shall I compare thee to a summer's day?", 24),
    ("When in disgrace with fortune and men's eyes", 16),
    ("Love is not love", 32),
    ("é — 😀 naïve", 12),
]
CHAT = [
    ([{"role": "user", "content": "Write a line about the sea."}], 20),
    ([{"role": "system", "content": "You are a poet."},
      {"role": "user", "content": "And the moon?"}], 16),
]


def main():
    for name, build in [("gpt2", make_decoders.gpt2), ("llama", make_decoders.llama)]:
        folder = ROOT / "onnx" / "decoders" / name
        tok = PreTrainedTokenizerFast.from_pretrained(str(folder))
        eos = tok.convert_tokens_to_ids(make_decoders.EOS)
        torch.manual_seed(0)
        model = build(len(tok), eos).eval()
        step = json.loads((folder / "case.json").read_text())["steps"][0]
        ids = torch.tensor(step["inputs"]["input_ids"]["data"]).reshape(1, -1)
        want = np.array(step["outputs"]["logits"]["data"], np.float32)
        with torch.no_grad():
            got = model(ids).logits.numpy().reshape(-1)
        assert np.abs(got - want).max() < 1e-4, f"{name}: not the committed model"
        cases = []
        prompts = [(p, n, False) for p, n in PLAIN] + [(m, n, True) for m, n in CHAT]
        for prompt, new, chat in prompts:
            if chat:
                prompt_ids = tok.apply_chat_template(prompt, add_generation_prompt=True)
            else:
                prompt_ids = tok(prompt)["input_ids"]
            with torch.no_grad():
                ids = torch.tensor([prompt_ids])
                out = model.generate(ids, attention_mask=torch.ones_like(ids),
                                     max_new_tokens=new, do_sample=False, pad_token_id=eos)
            generated = out[0, len(prompt_ids):].tolist()
            cases.append({"chat": chat, "prompt": prompt, "max_tokens": new,
                          "prompt_ids": prompt_ids, "generated_ids": generated,
                          "text": tok.decode(generated, skip_special_tokens=True)})
        (folder / "greedy.json").write_text(json.dumps({"cases": cases}, ensure_ascii=False,
                                                       indent=1) + "\n")
        print(name, [len(c["generated_ids"]) for c in cases])


if __name__ == "__main__":
    main()
