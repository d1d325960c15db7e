"""KServe V2 with JSON against the binary tensor extension, as a Python + onnxruntime handler
does it, on the same ONNX files and request bodies as `benches/handler.rs` (which writes them).

usage: ort_kserve.py BENCH_DIR   (prints JSON)

JSON: json.loads -> numpy array of the datatype -> session.run -> json.dumps of the outputs'
flat data. Binary: split at Inference-Header-Content-Length -> json.loads of the header ->
np.frombuffer -> session.run -> JSON header + the outputs' bytes. Reported: median seconds per
request, and the request body's bytes in each form.
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort

from ort_handler import median_time

CASES = {"reference_256": "reference.onnx", "image_1x3x224x224": "image.onnx"}


def json_handler(session, body):
    request = json.loads(body)
    feeds = {i["name"]: np.asarray(i["data"], dtype=np.float32).reshape(i["shape"]) for i in request["inputs"]}
    names = [o.name for o in session.get_outputs()]
    outputs = session.run(names, feeds)
    return json.dumps({"outputs": [
        {"name": n, "datatype": "FP32", "shape": list(o.shape), "data": o.ravel().tolist()}
        for n, o in zip(names, outputs)]})


def binary_handler(session, body, header_length):
    header = json.loads(body[:header_length])
    feeds, offset = {}, header_length
    for i in header["inputs"]:
        size = i["parameters"]["binary_data_size"]
        feeds[i["name"]] = np.frombuffer(body, dtype=np.float32, count=size // 4, offset=offset).reshape(i["shape"])
        offset += size
    names = [o.name for o in session.get_outputs()]
    outputs = session.run(names, feeds)
    answer = json.dumps({"outputs": [
        {"name": n, "datatype": "FP32", "shape": list(o.shape), "parameters": {"binary_data_size": o.nbytes}}
        for n, o in zip(names, outputs)]}).encode()
    return answer + b"".join(o.tobytes() for o in outputs)


def main():
    bench = sys.argv[1]
    results = {"onnxruntime": ort.__version__, "threads": os.cpu_count(), "cases": {}}
    for case, model in CASES.items():
        session = ort.InferenceSession(f"{bench}/{model}", providers=["CPUExecutionProvider"])
        json_body = open(f"{bench}/kserve-{case}.json", "rb").read()
        binary_body = open(f"{bench}/kserve-{case}.bin", "rb").read()
        header_length = int(open(f"{bench}/kserve-{case}.header").read())
        json_handler(session, json_body)
        binary_handler(session, binary_body, header_length)
        results["cases"][case] = {
            "json_bytes": len(json_body),
            "binary_bytes": len(binary_body),
            "json_s": median_time(lambda: json_handler(session, json_body)),
            "binary_s": median_time(lambda: binary_handler(session, binary_body, header_length)),
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
