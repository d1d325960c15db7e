"""Cold start as Lambda counts it: the `predict` function's release bootstrap against a Python
function (awslambdaric + boto3 + onnxruntime, benches/ort_lambda.py) under the same Runtime
API harness (benches/runtime_api.py), both reading the reference model from moto through
`@latest`, directly and through a proxy adding 10 ms to every S3 round trip; and from a folder
store on local disk (the model shipped inside the deployment: a layer under /opt).

usage: lambda_compare.py BOOTSTRAP PYTHON MAAS BENCH_DIR RUNS
Prints JSON: per side and S3 latency, medians of RUNS alternated runs: init (spawn → first
`next`), first response, warm invocations (batch 1, then batch 256; response to response, so
each includes the runtime's `next` round trip), peak RSS after init and the batch-1
invocations, and at the end (after the batch-256 one), and the CPU time the process used up to
its first response (what is its own work; the rest of the wall time is waiting on S3).
"""
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runtime_api  # noqa: E402

bootstrap, python, maas, bench, runs = sys.argv[1:6]
runs = int(runs)
here = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    port = free_port()
    process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("moto_server did not start")


def start_delay_proxy(upstream_port, delay):
    """A TCP proxy that waits `delay` seconds each time the client speaks after an answer:
    one added latency per request, as a far S3 endpoint adds."""
    port = free_port()

    async def pipe(reader, writer, turn, speaker):
        """Copies one direction; the client's first bytes after an answer wait `delay`."""
        try:
            while data := await reader.read(65536):
                if speaker == "client" and turn["turn"] != "client":
                    await asyncio.sleep(delay)
                turn["turn"] = speaker
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def client(reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        turn = {"turn": "server"}
        await asyncio.gather(pipe(reader, up_writer, turn, "client"), pipe(up_reader, writer, turn, "server"))

    async def main(ready):
        server = await asyncio.start_server(client, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    ready = threading.Event()
    threading.Thread(target=lambda: asyncio.run(main(ready)), daemon=True).start()
    ready.wait()
    return port


def event(body):
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": "/predict", "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "bench.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "bench.lambda-url.us-east-1.on.aws",
            "domainPrefix": "bench", "requestId": "bench", "routeKey": "$default", "stage": "$default",
            "time": "30/Nov/2026:00:00:00 +0000", "timeEpoch": 1796000000000,
            "http": {"method": "POST", "path": "/predict", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
        },
        "body": body, "isBase64Encoded": False,
    }


moto, moto_port = start_moto()
credentials = {
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
}
try:
    direct = f"http://127.0.0.1:{moto_port}"
    subprocess.run(["curl", "-sf", "-X", "PUT", f"{direct}/bench"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([maas, "publish", "--onnx", os.path.join(bench, "reference.onnx"), "--name", "reference",
                    "--store", "s3://bench/models"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, **credentials, "AWS_ENDPOINT_URL_S3": direct})
    # the same version in a folder store, as a layer would ship it
    layer = os.path.join(bench, "lambda-layer", "models")
    subprocess.run(["rm", "-rf", os.path.dirname(layer)], check=True)
    subprocess.run([maas, "models", "copy", "s3://bench/models/reference@latest", "--to", layer], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, **credentials, "AWS_ENDPOINT_URL_S3": direct})
    delayed = f"http://127.0.0.1:{start_delay_proxy(moto_port, 0.010)}"
    body = open(os.path.join(bench, "batch1.json")).read()
    body256 = open(os.path.join(bench, "batch256.json")).read()
    events = [event(body), event(body), event(body256)]
    sides = {
        "maas (bootstrap)": [bootstrap],
        "Python (awslambdaric + onnxruntime)": [python, "-m", "awslambdaric", "ort_lambda.handler"],
    }
    results = {}
    for run in range(runs):
        for latency, endpoint in (("direct", direct), ("+10 ms", delayed), ("in package", None)):
            for side, command in sides.items():
                model = "s3://bench/models/reference@latest" if endpoint else f"{layer}/reference@latest"
                env = {**credentials, "AWS_ENDPOINT_URL_S3": endpoint or direct, "AWS_ENDPOINT_URL": endpoint or direct,
                       "MAAS_MODEL": model, "MAAS_INFERENCE_THREADS": "1", "PYTHONPATH": here}
                os.chdir(here)
                r = runtime_api.run(command, env, events)
                if r["errors"] or len(r["answers"]) != 3:
                    raise RuntimeError(f"{side}: {r['errors']} {r['stderr']}")
                answer = json.loads(json.loads(r["answers"][0])["body"])
                assert len(answer["predictions"]) == 1, answer
                assert len(json.loads(json.loads(r["answers"][2])["body"])["predictions"]) == 256
                entry = results.setdefault(f"{side}|{latency}", {"init": [], "first_response": [], "warm": [], "warm_256": [], "peak_rss_kib": [],
                                                                 "peak_rss_batch1_kib": [], "cpu_first_response": []})
                entry["init"].append(r["init"])
                entry["first_response"].append(r["first_response"])
                entry["warm"].append(r["responses"][1] - r["responses"][0])
                entry["warm_256"].append(r["responses"][2] - r["responses"][1])
                entry["peak_rss_kib"].append(r["peak_rss_kib"])
                # asking for the batch-256 event: init and the batch-1 invocations done
                entry["peak_rss_batch1_kib"].append(r["peaks_at_next_kib"][2])
                # asking for the second event: the first answer posted
                entry["cpu_first_response"].append(r["cpu_at_next_s"][1])
    print(json.dumps({k: {m: statistics.median(v) for m, v in e.items()} for k, e in results.items()}, indent=1))
finally:
    moto.terminate()
