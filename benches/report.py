"""Prints the side-by-side table from criterion's estimates and the Python measurements.

usage: report.py CRITERION_DIR ORT_HANDLER_JSON COLD_START_JSON
"""
import json
import sys


def criterion_median_s(criterion_dir, name):
    with open(f"{criterion_dir}/{name}/new/estimates.json") as f:
        return json.load(f)["median"]["point_estimate"] / 1e9


def fmt(seconds):
    return f"{seconds * 1e6:,.0f} µs" if seconds < 1e-2 else f"{seconds * 1e3:,.1f} ms"


def main():
    criterion_dir, ort_path, cold_path = sys.argv[1:4]
    ort = json.load(open(ort_path))
    cold = json.load(open(cold_path))
    print(f"onnxruntime {ort['onnxruntime']}, numpy {ort['numpy']}\n")
    print("| figure | maas (tract) | Python + onnxruntime | ratio maas / Python |")
    print("|---|---|---|---|")
    for batch in ("1", "32", "256"):
        ours = criterion_median_s(criterion_dir, f"handler_native/{batch}")
        theirs = ort["handler"][batch]
        print(f"| whole handler, JSON in → JSON out, batch {batch} (median per request) | {fmt(ours)} | {fmt(theirs)} | {ours / theirs:.2f} |")
    for batch in ("1", "32", "256"):
        ours = criterion_median_s(criterion_dir, f"inference/{batch}")
        theirs = ort["session_run"][batch]
        rows = int(batch)
        print(f"| inference only, batch {batch} (rows/s) | {rows / ours:,.0f} | {rows / theirs:,.0f} | {theirs / ours:.2f} (throughput) |")
    m, p = cold["maas"], cold["python_ort"]
    print(f"| cold start: process start → model loaded → first answer over HTTP | {fmt(m['cold_start_s'])} | {fmt(p['cold_start_s'])} | {m['cold_start_s'] / p['cold_start_s']:.2f} |")
    print(f"| peak RSS of that process | {m['peak_rss_kib'] / 1024:.1f} MiB | {p['peak_rss_kib'] / 1024:.1f} MiB | {m['peak_rss_kib'] / p['peak_rss_kib']:.2f} |")
    load = criterion_median_s(criterion_dir, "model_load_optimise")
    print(f"\nmaas model load + optimise (reference model, in-process): {fmt(load)}")


if __name__ == "__main__":
    main()
