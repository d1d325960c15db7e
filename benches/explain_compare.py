"""Explanation time per row, maas against the shap package on onnxruntime doing the same work:
the same model file, the same background rows, the same rows explained and the same number
of coalitions (exact: every one of 2^features; KernelSHAP: shap's default budget, 2 x features
+ 2048, which is maas' default too).

usage: explain_compare.py MAAS STORE WORK_DIR [RUNS]
STORE holds `diabetes` (10 features, explained exactly) and `digits` (64 features, KernelSHAP)
trained by `maas train`, each with its background. Runs alternate between the two sides.
maas' time per row is the difference between explaining N rows and one row in `maas explain
--json` (a process each: the start, the store read and the model load cancel out), divided by
N - 1; shap's is the time of its explainer's call on the N rows divided by N, after a warm-up
call, in one process that has already imported shap and created the onnxruntime session.
Prints JSON: per case, the medians and their ratio.
"""
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import shap

CASES = [
    # name, output maas answers with, method, rows explained, coalitions per row
    ("diabetes", "predictions", "exact", 8, None),
    ("digits", "probabilities", "kernel", 4, 2 * 64 + 2048),
]


def csv_rows(path: Path, label: str, n: int) -> np.ndarray:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if name != label]
    # rows from the end of the file: not among the first, whatever the split drew
    rows = [[float(line.split(",")[i]) for i in keep] for line in lines[-n:]]
    return np.asarray(rows, dtype=np.float32)


def maas_seconds(maas: str, model: str, rows_file: Path, extra: list) -> tuple:
    start = time.perf_counter()
    out = subprocess.run(
        [maas, "explain", "--model", model, "--input", str(rows_file), "--json", *extra],
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    answer = json.loads(out.stdout)
    return seconds, answer["explanations"][0]["model_rows"]


def main() -> None:
    maas, store, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    work.mkdir(parents=True, exist_ok=True)
    data = Path(__file__).resolve().parent.parent / "tests" / "data"
    results = []
    for name, output, method, n, samples in CASES:
        version = store / name / "versions" / "1"
        background = np.asarray(
            json.loads((version / "background.json").read_text())["rows"], dtype=np.float32
        )
        label = "progression" if name == "diabetes" else "label"
        rows = csv_rows(data / f"{name}.csv", label, n)
        many, one = work / f"{name}-{n}.json", work / f"{name}-1.json"
        many.write_text(json.dumps({"inputs": rows.tolist()}))
        one.write_text(json.dumps({"inputs": rows[:1].tolist()}))
        extra = ["--method", method]
        if samples is not None:
            extra += ["--samples", str(samples), "--seed", "1"]
        model = f"{store}/{name}@1"

        session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name

        def f(x):
            return session.run([output], {input_name: np.asarray(x, dtype=np.float32)})[0].astype(np.float64)

        if method == "exact":
            masker = shap.maskers.Independent(background, max_samples=len(background))
            explainer = shap.explainers.ExactExplainer(f, masker)
            call = lambda x: explainer(x)  # noqa: E731
        else:
            explainer = shap.KernelExplainer(f, background)
            call = lambda x: explainer.shap_values(x, nsamples=samples, l1_reg=False, silent=True)  # noqa: E731
        call(rows[:1])  # warm-up: shap's first call builds its masks and caches

        ours_many, ours_one, theirs = [], [], []
        model_rows = None
        for _ in range(runs):
            seconds, model_rows = maas_seconds(maas, model, many, extra)
            ours_many.append(seconds)
            ours_one.append(maas_seconds(maas, model, one, extra)[0])
            start = time.perf_counter()
            call(rows)
            theirs.append((time.perf_counter() - start) / n)
        ours = (statistics.median(ours_many) - statistics.median(ours_one)) / (n - 1)
        shap_row = statistics.median(theirs)
        results.append(
            {
                "model": name,
                "method": method,
                "features": rows.shape[1],
                "background_rows": len(background),
                "coalitions": samples if samples is not None else 2 ** rows.shape[1],
                "model_rows_per_row": model_rows,
                "rows": n,
                "runs": runs,
                "maas_seconds_per_row": ours,
                "maas_process_one_row_seconds": statistics.median(ours_one),
                "shap_seconds_per_row": shap_row,
                "ratio": ours / shap_row,
            }
        )
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
