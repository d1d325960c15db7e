"""Text generation speed, maas against onnxruntime side by side in one run: for each decoder
folder and prompt length, `maas generate --hf-dir DIR --temperature 0 --print-tokens` (its
own timings: the prompt's run to the first token, then tokens per second of the decoding
steps) and onnxruntime running the same model.onnx in a Python loop with the KV cache, greedy,
for the same prompt ids and the same number of new tokens, with the same threads. Each figure
is the median of RUNS runs. Also the physical bound of decoding: the weight bytes one token
reads (every initializer but the embedding tables it gathers one row from) over the read
bandwidth THREADS threads measure.

Prints a Markdown table and one JSON line per row (benches/generation.sh runs it).

usage: python generation_compare.py MAAS THREADS NEW_TOKENS RUNS DIR [DIR ...]
"""
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from tokenizers import Tokenizer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
from ort_generate import generate  # noqa: E402

PROMPT_TOKENS = [16, 256]
TEXT = open(os.path.join(os.path.dirname(__file__), "..", "tests", "data", "sonnets.txt"),
            encoding="utf-8").read()


def prompt_of(tokenizer, tokens):
    """A text of the corpus that encodes to `tokens` ids (a cut inside a word may merge or
    split one token: trimmed until it fits)."""
    ids = tokenizer.encode(TEXT).ids
    cut = tokens
    while True:
        text = tokenizer.decode(ids[:cut])
        if len(tokenizer.encode(text).ids) <= tokens or cut == 1:
            return text
        cut -= 1


def maas_run(maas, folder, prompt, new_tokens, threads):
    env = {**os.environ, "MAAS_INFERENCE_THREADS": str(threads), "MAAS_MAX_TOKENS": "4096"}
    out = subprocess.run([maas, "generate", "--hf-dir", folder, "--prompt", prompt,
                          "--max-tokens", str(new_tokens), "--temperature", "0",
                          "--print-tokens"], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(out.stderr.strip().splitlines()[-1])


def ort_run(session, prompt_ids, new_tokens):
    """onnxruntime's greedy loop (tests/python/ort_generate.py, the judge of the tests) for
    `new_tokens` tokens, no end-of-text: the first step's seconds and the later steps' rate."""
    seconds = []
    generate(session, set(), prompt_ids, new_tokens, seconds)
    first, rest = seconds[0], seconds[1:]
    return first, (len(rest) / sum(rest)) if rest else 0.0


def weight_bytes(folder):
    """Bytes of the initializers one decoding step reads whole: all of them but the tables only
    gathered from (the token and position embeddings, of which a step reads one row)."""
    model = onnx.load(os.path.join(folder, "model.onnx"), load_external_data=False)
    consumers = {}
    for node in model.graph.node:
        for position, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node.op_type, position))
    total = 0
    for init in model.graph.initializer:
        uses = consumers.get(init.name, [])
        if uses and all(op == "Gather" and position == 0 for op, position in uses):
            continue
        count = int(np.prod(init.dims)) if init.dims else 1
        total += count * np.dtype(onnx.helper.tensor_dtype_to_np_dtype(init.data_type)).itemsize
    return total


def read_bandwidth(threads):
    """Bytes per second `threads` threads read together, each summing its own 512 MiB float32
    array with numpy (which lets go of the GIL in the loop); best of 5."""
    from concurrent.futures import ThreadPoolExecutor
    arrays = [np.ones(1 << 27, np.float32) for _ in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(np.sum, arrays))
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            list(pool.map(np.sum, arrays))
            best = min(best, time.perf_counter() - started)
    return sum(a.nbytes for a in arrays) / best


def main():
    maas, threads, new_tokens, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    folders = sys.argv[5:]
    bandwidth = read_bandwidth(threads)
    rows = []
    for folder in folders:
        config = json.load(open(os.path.join(folder, "config.json")))
        context = config.get("n_positions", config.get("max_position_embeddings"))
        tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(os.path.join(folder, "model.onnx"), options)
        weights = weight_bytes(folder)
        for tokens in PROMPT_TOKENS:
            # a fixture's context is 128 tokens: its longest prompt leaves room for the new ones
            tokens = min(tokens, context - new_tokens)
            prompt = prompt_of(tokenizer, tokens)
            ours = [maas_run(maas, folder, prompt, new_tokens, threads) for _ in range(runs)]
            prompt_ids, generated = ours[0]["prompt_ids"], len(ours[0]["tokens"])
            theirs = [ort_run(session, prompt_ids, generated) for _ in range(runs)]
            maas_ttft = statistics.median(r["time_to_first_token_ms"] for r in ours)
            maas_tps = statistics.median(r["decode_tokens_per_second"] for r in ours)
            ort_ttft = statistics.median(t for t, _ in theirs) * 1e3
            ort_tps = statistics.median(s for _, s in theirs)
            bound = bandwidth / weights
            rows.append({
                "model": os.path.basename(folder.rstrip("/")),
                "weight_bytes": weights,
                "prompt_tokens": len(prompt_ids),
                "new_tokens": generated,
                "threads": threads,
                "maas_ttft_ms": round(maas_ttft, 2),
                "ort_ttft_ms": round(ort_ttft, 2),
                "ttft_ratio_maas_over_ort": round(maas_ttft / ort_ttft, 3),
                "maas_tokens_per_s": round(maas_tps, 1),
                "ort_tokens_per_s": round(ort_tps, 1),
                "decode_ratio_maas_over_ort": round(maas_tps / ort_tps, 3),
                "bandwidth_gb_s": round(bandwidth / 1e9, 2),
                "bound_tokens_per_s": round(bound, 1),
                "maas_over_bound": round(maas_tps / bound, 3),
            })
    print("| model | weights MB | prompt | new | maas TTFT ms | ORT TTFT ms | ratio | maas tok/s | ORT tok/s | ratio | bound tok/s | maas / bound |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['weight_bytes'] / 1e6:.1f} | {r['prompt_tokens']} | {r['new_tokens']} "
              f"| {r['maas_ttft_ms']} | {r['ort_ttft_ms']} | {r['ttft_ratio_maas_over_ort']} "
              f"| {r['maas_tokens_per_s']} | {r['ort_tokens_per_s']} | {r['decode_ratio_maas_over_ort']} "
              f"| {r['bound_tokens_per_s']} | {r['maas_over_bound']} |")
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
