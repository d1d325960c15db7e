"""The Python + onnxruntime handler, timed on the same ONNX and request bodies as maas.

usage: ort_handler.py BENCH_DIR   (reads reference.onnx and batch{1,32,256}.json, prints JSON)

The handler does what a Python Lambda handler does: json.loads -> numpy float32 -> session.run
-> labelled JSON answer (json.dumps). Reported: median seconds per request, and session.run
alone (default threads, and one thread at batch 256).
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def handler(session, input_name, labels, body):
    rows = np.asarray(json.loads(body)["inputs"], dtype=np.float32)
    probabilities = session.run(None, {input_name: rows})[0]
    best = probabilities.argmax(axis=1)
    return json.dumps({
        "model_name": "reference",
        "model_version": 1,
        "labels": labels,
        "predictions": [
            {"label": labels[b], "probability": float(p[b]), "probabilities": p.tolist()}
            for p, b in zip(probabilities, best)
        ],
    })


def median_time(fn, budget=3.0, min_runs=20):
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < min_runs or time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    bench_dir = sys.argv[1]
    options = ort.SessionOptions()
    session = ort.InferenceSession(f"{bench_dir}/reference.onnx", options,
                                   providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    labels = [f"class{c}" for c in range(10)]
    results = {"onnxruntime": ort.__version__, "numpy": np.__version__,
               "threads": os.cpu_count(), "handler": {}, "session_run": {}}
    for batch in (1, 32, 256):
        with open(f"{bench_dir}/batch{batch}.json") as f:
            body = f.read()
        rows = np.asarray(json.loads(body)["inputs"], dtype=np.float32)
        handler(session, input_name, labels, body)  # warm-up
        results["handler"][str(batch)] = median_time(lambda: handler(session, input_name, labels, body))
        results["session_run"][str(batch)] = median_time(lambda: session.run(None, {input_name: rows}))
    # per-core comparison: one intra-op thread
    single_options = ort.SessionOptions()
    single_options.intra_op_num_threads = 1
    single = ort.InferenceSession(f"{bench_dir}/reference.onnx", single_options,
                                  providers=["CPUExecutionProvider"])
    with open(f"{bench_dir}/batch256.json") as f:
        rows = np.asarray(json.load(f)["inputs"], dtype=np.float32)
    results["session_run_1_thread"] = {"256": median_time(lambda: single.run(None, {input_name: rows}))}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
