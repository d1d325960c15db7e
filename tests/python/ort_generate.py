"""onnxruntime's greedy generation with the KV cache, the second judge of maas' decoding loop:
for each case of a greedy.json (tests/python/make_greedy.py), the prompt ids in one run, then
one token per run fed the previous run's present key/values, until the model's end-of-text id
or max_tokens. Prints {"cases": [[generated ids], ...]}.

usage: python3 tests/python/ort_generate.py FOLDER   (a folder of onnx/decoders/)
"""
import json
import pathlib
import sys
import time

import numpy as np
import onnxruntime as ort


def generate(session, eos, prompt_ids, max_tokens, seconds=None):
    """Greedy ids after `prompt_ids`; each step's time (its run and argmax) is appended to
    `seconds` when it is a list (benches/generation_compare.py)."""
    inputs = {i.name: i for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    past = {}
    for name, spec in inputs.items():
        if name.startswith("past_key_values"):
            _, heads, _, width = spec.shape
            past[name] = np.zeros((1, heads, 0, width), np.float32)
    ids = np.array([prompt_ids], np.int64)
    done, generated = 0, []
    while len(generated) < max_tokens:
        started = time.perf_counter()
        length = ids.shape[1]
        feed = {"input_ids": ids, "attention_mask": np.ones((1, done + length), np.int64),
                **past}
        if "position_ids" in inputs:
            feed["position_ids"] = np.arange(done, done + length, dtype=np.int64)[None, :]
        values = dict(zip(names, session.run(None, feed)))
        token = int(values["logits"][0, -1].argmax())
        if seconds is not None:
            seconds.append(time.perf_counter() - started)
        generated.append(token)
        if token in eos:
            break
        done += length
        ids = np.array([[token]], np.int64)
        past = {n: values[n.replace("past_key_values", "present")] for n in past}
    return generated


def main():
    folder = pathlib.Path(sys.argv[1])
    session = ort.InferenceSession(str(folder / "model.onnx"))
    eos = json.loads((folder / "generation_config.json").read_text())["eos_token_id"]
    eos = set(eos if isinstance(eos, list) else [eos])
    cases = json.loads((folder / "greedy.json").read_text())["cases"]
    print(json.dumps({"cases": [generate(session, eos, c["prompt_ids"], c["max_tokens"])
                                for c in cases]}))


if __name__ == "__main__":
    main()
