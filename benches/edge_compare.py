"""The edge worker under workerd against the Lambda function under `cargo lambda watch` and a
Python + onnxruntime server, on the same model and request bodies, in one run.

usage: edge_compare.py BENCH_DIR STORE MODEL_NAME PYTHON RUNS WARM
Prints JSON: per system, the first answer of a cold start (median of RUNS alternated starts),
warm latency at batch 1 and 32 (median and p90 of WARM sequential keep-alive requests) and CPU
per warm request (of the busiest process: workerd's isolate, the function, the Python server).
"""
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

bench, store, name, python, runs, warm = sys.argv[1:7]
runs, warm = int(runs), int(warm)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bodies = {b: open(os.path.join(bench, f"batch{b}.json"), "rb").read() for b in (1, 32)}
ticks = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def systems(port):
    model = f"{store}/{name}"
    return {
        "edge worker (workerd, wrangler dev)": (
            ["bash", "functions/edge/run-local.sh", "--model", model, "--port", str(port),
             "--refresh-seconds", "0", "--state", os.path.join(bench, "edge-state")],
            "/predict",
        ),
        "Lambda function (cargo lambda watch)": (
            ["cargo", "lambda", "watch", "--release", "--package", "predict", "--ignore-changes",
             "-A", "127.0.0.1", "-P", str(port), "--env-var", f"MAAS_MODEL={model}"],
            "/lambda-url/predict/predict",
        ),
        "Python + onnxruntime (http.server)": (
            [python, "benches/ort_server.py", os.path.join(bench, f"{name}.onnx"), str(port)],
            "/predict",
        ),
    }


def post(conn, path, body):
    started = time.perf_counter()
    conn.request("POST", path, body=body, headers={"content-type": "application/json"})
    answer = conn.getresponse()
    data = answer.read()
    if answer.status != 200:
        raise RuntimeError(f"{path}: {answer.status} {data[:300]!r}")
    return time.perf_counter() - started


def accepting(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def group_cpu(pgid):
    """CPU seconds of each process in the group, by pid."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            out[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def start(command):
    return subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def stop(process):
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    process.wait()


def cold(command, path, port):
    """Seconds from spawn to the first answer, and from accepting connections to it."""
    process = start(command)
    spawned = time.perf_counter()
    try:
        deadline = spawned + 600
        while not accepting(port):
            if process.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"{command[0]} never listened")
            time.sleep(0.005)
        listening = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        post(conn, path, bodies[1])
        done = time.perf_counter()
        return process, conn, done - spawned, done - listening
    except BaseException:
        stop(process)
        raise


results = {}
for run in range(runs):
    for label, (command, path) in systems(0).items():
        port = free_port()
        command, path = systems(port)[label]
        process, conn, from_spawn, first = cold(command, path, port)
        entry = results.setdefault(label, {"from_spawn": [], "first_request": []})
        entry["from_spawn"].append(from_spawn)
        entry["first_request"].append(first)
        if run == runs - 1:
            for batch in (1, 32):
                for _ in range(10):
                    post(conn, path, bodies[batch])
                before = group_cpu(process.pid)
                times = sorted(post(conn, path, bodies[batch]) for _ in range(warm))
                after = group_cpu(process.pid)
                busiest = max((after[p] - before.get(p, 0.0) for p in after), default=0.0)
                entry[f"batch{batch}_median"] = statistics.median(times)
                entry[f"batch{batch}_p90"] = times[int(0.9 * (len(times) - 1))]
                entry[f"batch{batch}_cpu"] = busiest / warm
        conn.close()
        stop(process)

summary = {}
for label, entry in results.items():
    summary[label] = {k: (statistics.median(v) if isinstance(v, list) else v) for k, v in entry.items()}
print(json.dumps(summary, indent=1))
