"""Sends one case of onnx/tensor/*.case.json to a KServe V2 server with tritonclient's HTTP
client and its defaults: every input with set_data_from_numpy (the binary tensor data
extension) and every output asked for with InferRequestedOutput (binary). Also asks with JSON
both ways (binary_data=False) so the two can be compared.

usage: triton_infer.py URL MODEL CASE.json   (URL like 127.0.0.1:8080)
Prints JSON {"binary": {output: {"datatype", "shape", "data"}}, "json": {...}, "metadata": {...}}.
"""
import json
import sys

import numpy as np
import tritonclient.http as httpclient

NUMPY = {"BOOL": np.bool_, "UINT8": np.uint8, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
         "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
         "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64}


def infer(client, model, case, binary):
    inputs = []
    for name, t in case["inputs"].items():
        value = np.asarray(t["data"], dtype=NUMPY[t["datatype"]]).reshape(t["shape"])
        item = httpclient.InferInput(name, list(value.shape), t["datatype"])
        item.set_data_from_numpy(value, binary_data=binary)
        inputs.append(item)
    outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in case["outputs"]]
    result = client.infer(model, inputs, outputs=outputs)
    answer = {}
    for name in case["outputs"]:
        value = result.as_numpy(name)
        meta = result.get_output(name)
        answer[name] = {"datatype": meta["datatype"], "shape": list(value.shape),
                        "data": value.reshape(-1).tolist()}
    return answer


def main():
    url, model, case_path = sys.argv[1:4]
    case = json.load(open(case_path))
    client = httpclient.InferenceServerClient(url=url)
    print(json.dumps({
        "live": client.is_server_live(),
        "ready": client.is_model_ready(model),
        "metadata": client.get_model_metadata(model),
        "binary": infer(client, model, case, True),
        "json": infer(client, model, case, False),
    }))


if __name__ == "__main__":
    main()
