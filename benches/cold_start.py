"""Cold start, side by side: process start -> model loaded -> first prediction answered over
HTTP, and the peak RSS of the serving process, for `maas serve` and a Python + onnxruntime server.

usage: cold_start.py MAAS_BINARY PYTHON BENCH_DIR [RUNS]   (prints JSON)
The two are started alternately, RUNS times each, on free loopback ports.
"""
import json
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


def main():
    maas, python, bench_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    body = open(f"{bench_dir}/batch1.json", "rb").read()
    model = f"{bench_dir}/reference.onnx"
    results = {"maas": [], "python_ort": []}
    for _ in range(runs):
        port = free_port()
        results["maas"].append(first_answer([maas, "serve", "--model", model, "--port", str(port)], port, body))
        port = free_port()
        results["python_ort"].append(first_answer([python, "benches/ort_server.py", model, str(port)], port, body))
    print(json.dumps({
        side: {"cold_start_s": statistics.median(t for t, _ in runs_),
               "peak_rss_kib": statistics.median(r for _, r in runs_)}
        for side, runs_ in results.items()
    }))


if __name__ == "__main__":
    main()
