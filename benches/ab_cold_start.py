"""Cold start of `maas predict` for two binaries (an earlier commit and this one), started
alternately RUNS times each: process start -> model loaded from a local folder store (alias
resolved, sha256 checked) -> first answer printed; wall time and peak RSS, medians and ratios.

usage: ab_cold_start.py BASE_BINARY NEW_BINARY STORE REQUEST.json RUNS   (prints JSON)
STORE holds the model `reference`.
"""
import json
import statistics
import sys

from cold_start import run_measured


def main():
    base, new, store, request = sys.argv[1:5]
    runs = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    sides = {"base": (base, []), "new": (new, [])}
    for _ in range(runs):
        for binary, results in sides.values():
            results.append(run_measured(
                [binary, "predict", "--model", f"{store}/reference@latest", "--input", request]))
    report = {"runs": runs}
    for side, (_, results) in sides.items():
        report[side] = {
            "cold_start_ms": statistics.median(t for t, _ in results) * 1e3,
            "peak_rss_mib": statistics.median(r for _, r in results) / 1024,
        }
    report["ratio_new_to_base"] = {
        key: report["new"][key] / report["base"][key] for key in ("cold_start_ms", "peak_rss_mib")
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
