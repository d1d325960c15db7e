"""Prints the side-by-side table from criterion's estimates and the Python measurements, each
row with the issue's target and whether it is met.

usage: report.py CRITERION_DIR BENCH_DIR
BENCH_DIR holds ort_handler.json, cold_start.json, training.json, lambda.json, precision.json and
(unless skipped) package.json. `report.py --lambda lambda.json` prints the Runtime API harness's table alone.
"""
import json
import os
import sys


def criterion_median_s(criterion_dir, name):
    with open(f"{criterion_dir}/{name}/new/estimates.json") as f:
        return json.load(f)["median"]["point_estimate"] / 1e9


def fmt(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.0f} µs"
    return f"{seconds * 1e3:,.2f} ms" if seconds < 1e-2 else f"{seconds * 1e3:,.1f} ms"


def verdict(ok):
    return "met" if ok else "**not met**"


def kserve_table(criterion_dir, ort):
    """KServe V2 JSON against the binary extension: body bytes and whole-handler time."""
    lines = ["\nKServe V2, JSON against the binary tensor extension (whole handler, request in → response out):\n",
             "| tensor | request body JSON | binary | maas JSON | maas binary | Python JSON | Python binary | maas binary / Python binary |",
             "|---|---|---|---|---|---|---|---|"]
    for case, python in ort["cases"].items():
        ours_json = criterion_median_s(criterion_dir, f"kserve_body/json/{case}")
        ours_binary = criterion_median_s(criterion_dir, f"kserve_body/binary/{case}")
        lines.append(f"| {case} | {python['json_bytes']:,} B | {python['binary_bytes']:,} B | {fmt(ours_json)} | {fmt(ours_binary)} | "
                     f"{fmt(python['json_s'])} | {fmt(python['binary_s'])} | {ours_binary / python['binary_s']:.2f} |")
    return "\n".join(lines)


LAMBDA_SOURCES = (("direct", "S3"), ("+10 ms", "S3 + 10 ms per request"), ("in package", "a folder in the package"))
MAAS_FN, PYTHON_FN = "maas (bootstrap)", "Python (awslambdaric + onnxruntime)"


def lambda_table(lam):
    """The Runtime API harness (lambda.json): every figure per model source, both sides."""
    lines = ["| model read from | side | init (spawn → first next) | first response | CPU time to first response | warm, batch 1 | warm, batch 256 | peak RSS, cold start + batch 1 | peak RSS after batch 256 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, source in LAMBDA_SOURCES:
        ours, theirs = lam[f"{MAAS_FN}|{key}"], lam[f"{PYTHON_FN}|{key}"]
        for side, r in (("maas", ours), ("Python", theirs)):
            lines.append(f"| {source} | {side} | {fmt(r['init'])} | {fmt(r['first_response'])} | {fmt(r['cpu_first_response'])} | {fmt(r['warm'])} | "
                         f"{fmt(r['warm_256'])} | {r['peak_rss_batch1_kib'] / 1024:.1f} MiB | {r['peak_rss_kib'] / 1024:.1f} MiB |")
        lines.append(f"| {source} | **ratio** | {ours['init'] / theirs['init']:.3f} | **{ours['first_response'] / theirs['first_response']:.3f}** | "
                     f"{ours['cpu_first_response'] / theirs['cpu_first_response']:.3f} | "
                     f"{ours['warm'] / theirs['warm']:.2f} | {ours['warm_256'] / theirs['warm_256']:.2f} | "
                     f"**{ours['peak_rss_batch1_kib'] / theirs['peak_rss_batch1_kib']:.2f}** | {ours['peak_rss_kib'] / theirs['peak_rss_kib']:.2f} |")
    return "\n".join(lines)


def lambda_rows(lam):
    """The cold-start issue's targets, from the Runtime API harness."""
    rows = []
    for key, source in LAMBDA_SOURCES:
        ours, theirs = lam[f"{MAAS_FN}|{key}"], lam[f"{PYTHON_FN}|{key}"]
        ratio = ours["first_response"] / theirs["first_response"]
        target = "≤ 0.05" if key != "in package" else "–"
        rows.append(f"| Lambda function, model from {source}: spawn → first response (Runtime API harness) | "
                    f"{fmt(ours['first_response'])} | {fmt(theirs['first_response'])} | {ratio:.3f} | {target} | "
                    + (verdict(ratio <= 0.05) if key != "in package" else "") + " |")
    ours, theirs = lam[f"{MAAS_FN}|direct"], lam[f"{PYTHON_FN}|direct"]
    ratio = ours["peak_rss_batch1_kib"] / theirs["peak_rss_batch1_kib"]
    rows.append(f"| Lambda function, peak RSS: cold start (model from S3) + batch-1 invocations | {ours['peak_rss_batch1_kib'] / 1024:.1f} MiB | "
                f"{theirs['peak_rss_batch1_kib'] / 1024:.1f} MiB | {ratio:.2f} | ≤ 0.25 | {verdict(ratio <= 0.25)} |")
    ratio = ours["peak_rss_kib"] / theirs["peak_rss_kib"]
    rows.append(f"| Lambda function, peak RSS after a batch-256 invocation (5 MB event) | {ours['peak_rss_kib'] / 1024:.1f} MiB | "
                f"{theirs['peak_rss_kib'] / 1024:.1f} MiB | {ratio:.2f} | – | |")
    ratio = ours["warm"] / theirs["warm"]
    rows.append(f"| Lambda function, warm invocation, batch 1 | {fmt(ours['warm'])} | {fmt(theirs['warm'])} | {ratio:.2f} | – | |")
    return rows


def main():
    if sys.argv[1] == "--lambda":
        print(lambda_table(json.load(open(sys.argv[2]))))
        return
    criterion_dir, bench = sys.argv[1:3]
    ort = json.load(open(f"{bench}/ort_handler.json"))
    cold = json.load(open(f"{bench}/cold_start.json"))
    training = json.load(open(f"{bench}/training.json"))
    package = json.load(open(f"{bench}/package.json")) if os.path.exists(f"{bench}/package.json") else None
    keras = training["keras"]
    print(f"onnxruntime {ort['onnxruntime']} ({ort['threads']} threads), numpy {ort['numpy']}, "
          f"TensorFlow {keras['tensorflow']} ({keras['threads']} threads); cold starts: median of {cold['runs']} each\n")
    print("| figure | maas | Python | ratio maas / Python | target | |")
    print("|---|---|---|---|---|---|")
    targets = {"1": 0.3, "32": 0.25}
    for batch in ("1", "32", "256"):
        ours = criterion_median_s(criterion_dir, f"handler_native/{batch}")
        theirs = ort["handler"][batch]
        ratio = ours / theirs
        target = targets.get(batch)
        print(f"| whole handler, JSON in → JSON out, batch {batch} (median per request) | {fmt(ours)} | {fmt(theirs)} | {ratio:.2f} | "
              + (f"≤ {target} | {verdict(ratio <= target)} |" if target else "– | |"))
    for batch in ("1", "32", "256"):
        ours = criterion_median_s(criterion_dir, f"inference/{batch}")
        theirs = ort["session_run"][batch]
        rows = int(batch)
        ratio = theirs / ours
        row = f"| inference only (tract vs `session.run`), batch {batch}, rows/s | {rows / ours:,.0f} | {rows / theirs:,.0f} | {ratio:.2f} | "
        print(row + (f"≥ 1.0 | {verdict(ratio >= 1.0)} |" if batch == "256" else "– | |"))
    precision = json.load(open(f"{bench}/precision.json")) if os.path.exists(f"{bench}/precision.json") else None
    if precision:
        change = precision["accuracy_change_points"]
        for batch in ("1", "32", "256"):
            ours = criterion_median_s(criterion_dir, f"inference_int8/{batch}")
            theirs = 1 / precision["ort_rows_per_second"]["int8"][batch] * int(batch)
            f32 = 1 / precision["ort_rows_per_second"]["f32"][batch] * int(batch)
            rows = int(batch)
            row = (f"| inference only, **int8** (onnxruntime's dynamic quantisation, per column; digits accuracy "
                   f"{change:+.2f} points), batch {batch}, rows/s (ratio to onnxruntime int8; to its f32) | {rows / ours:,.0f} | "
                   f"{rows / theirs:,.0f} | {theirs / ours:.2f}; {f32 / ours:.2f} | ")
            print(row + ("≥ 1.0 with ≤ 0.5 point | " + verdict(f32 / ours >= 1.0 and abs(change) <= 0.5) + " |"
                         if batch == "256" else "– | |"))
    single = ort.get("session_run_1_thread", {}).get("256")
    if single:
        ours = criterion_median_s(criterion_dir, "inference_1_thread/256")
        print(f"| inference only, batch 256, **one thread each**, rows/s | {256 / ours:,.0f} | {256 / single:,.0f} | {single / ours:.2f} | – | |")
    m, p = cold["predict"]["maas"], cold["predict"]["python_ort"]
    ratio = m["cold_start_s"] / p["cold_start_s"]
    print(f"| cold start: process start → model loaded from local store → first answer printed | {fmt(m['cold_start_s'])} | {fmt(p['cold_start_s'])} | {ratio:.3f} | "
          f"≤ 0.1 and < 20 ms | {verdict(ratio <= 0.1 and m['cold_start_s'] < 0.020)} |")
    ratio = m["peak_rss_kib"] / p["peak_rss_kib"]
    print(f"| peak RSS of that process | {m['peak_rss_kib'] / 1024:.1f} MiB | {p['peak_rss_kib'] / 1024:.1f} MiB | {ratio:.2f} | ≤ 0.25 | {verdict(ratio <= 0.25)} |")
    m, p = cold["serve"]["maas"], cold["serve"]["python_ort"]
    print(f"| cold start of a server: process start → first answer over HTTP | {fmt(m['cold_start_s'])} | {fmt(p['cold_start_s'])} | {m['cold_start_s'] / p['cold_start_s']:.3f} | – | |")
    print(f"| peak RSS of that server | {m['peak_rss_kib'] / 1024:.1f} MiB | {p['peak_rss_kib'] / 1024:.1f} MiB | {m['peak_rss_kib'] / p['peak_rss_kib']:.2f} | – | |")
    ours = training["maas"]
    ratio = ours["samples_per_second"] / keras["samples_per_second"]
    accurate = ours["same_rows_accuracy"] >= keras["same_rows_accuracy"]
    print(f"| training, reference model, {ours['training_rows']:,} rows × {ours['epochs']} epochs, samples/s (Keras: `TensorFlow`) | {ours['samples_per_second']:,.0f} | {keras['samples_per_second']:,.0f} | {ratio:.2f} | ≥ 2 | {verdict(ratio >= 2)} |")
    print(f"| test accuracy of those models on the same {ours['same_rows']:,} unseen rows | {ours['same_rows_accuracy']:.4f} | {keras['same_rows_accuracy']:.4f} | – | maas ≥ Keras | {verdict(accurate)} |")
    print(f"| (accuracy on each side's own held-out {ours['test_rows']:,} rows) | {ours['test_accuracy']:.4f} | {keras['test_accuracy']:.4f} | – | – | |")
    lam = json.load(open(f"{bench}/lambda.json")) if os.path.exists(f"{bench}/lambda.json") else None
    if lam:
        print("\n".join(lambda_rows(lam)))
    if package:
        mb = package["zip_bytes"] / 1e6
        print(f"| `cargo lambda build --release --arm64 --output-format zip`: bootstrap.zip | {mb:.2f} MB ({package['bootstrap_bytes'] / 1e6:.1f} MB unpacked) | – | – | ≤ 8 MB | {verdict(mb <= 8)} |")
    else:
        print("| arm64 bootstrap.zip | not built (SKIP_PACKAGE=1) | – | – | ≤ 8 MB | |")
    if os.path.exists(f"{bench}/ort_kserve.json"):
        print(kserve_table(criterion_dir, json.load(open(f"{bench}/ort_kserve.json"))))
    if lam:
        print("\nThe Lambda function under the Runtime API harness (medians):\n")
        print(lambda_table(lam))
    load = criterion_median_s(criterion_dir, "model_load_optimise")
    epoch = criterion_median_s(criterion_dir, "training/epoch")
    print(f"\nIn-process (criterion): model load + optimise {fmt(load)}; one training epoch of 2,000 rows {fmt(epoch)} ({2000 / epoch:,.0f} samples/s).")


if __name__ == "__main__":
    main()
