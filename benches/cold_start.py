"""Cold start, side by side, in two forms; each side started alternately RUNS times, medians.

- `predict`: process start -> model loaded from a local folder store (alias resolved, sha256
  checked) -> first answer printed: `maas predict --model STORE/reference@latest` against
  `ort_predict.py` (Python + onnxruntime doing the same). Wall time and the peak RSS of the
  process (`ru_maxrss` from wait4).
- `serve`: process start -> model loaded -> first prediction answered over HTTP on loopback,
  `maas serve` against `ort_server.py`; peak RSS is the server's `VmHWM`.

usage: cold_start.py MAAS_BINARY PYTHON BENCH_DIR [RUNS]   (prints JSON)
BENCH_DIR holds reference.onnx, batch1.json and the folder store `store/` with `reference`.
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def first_answer(command, port, body, timeout=30.0):
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/predict", data=body,
                    headers={"content-type": "application/json"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    json.loads(response.read())
                    elapsed = time.perf_counter() - start
                    return elapsed, peak_rss_kib(process.pid)
            except (ConnectionError, urllib.error.URLError):
                if time.perf_counter() - start > timeout:
                    raise RuntimeError(f"{command[0]} never answered")
                time.sleep(0.0005)
    finally:
        process.terminate()
        process.wait()


def run_measured(command):
    """Wall seconds to the end of `command` and its peak RSS in KiB (wait4's ru_maxrss)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or not json.loads(out)["predictions"]:
        raise RuntimeError(f"{command[0]} failed with {process.returncode}")
    return elapsed, usage.ru_maxrss


def medians(runs):
    return {"cold_start_s": statistics.median(t for t, _ in runs),
            "peak_rss_kib": statistics.median(r for _, r in runs)}


def main():
    maas, python, bench_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    request = f"{bench_dir}/batch1.json"
    body = open(request, "rb").read()
    model = f"{bench_dir}/reference.onnx"
    store = f"{bench_dir}/store"
    predict = {"maas": [], "python_ort": []}
    serve = {"maas": [], "python_ort": []}
    for _ in range(runs):
        predict["maas"].append(run_measured(
            [maas, "predict", "--model", f"{store}/reference@latest", "--input", request]))
        predict["python_ort"].append(run_measured(
            [python, "benches/ort_predict.py", store, "reference", "latest", request]))
        port = free_port()
        serve["maas"].append(first_answer([maas, "serve", "--model", model, "--port", str(port)], port, body))
        port = free_port()
        serve["python_ort"].append(first_answer([python, "benches/ort_server.py", model, str(port)], port, body))
    print(json.dumps({
        "runs": runs,
        "predict": {side: medians(r) for side, r in predict.items()},
        "serve": {side: medians(r) for side, r in serve.items()},
    }))


if __name__ == "__main__":
    main()
