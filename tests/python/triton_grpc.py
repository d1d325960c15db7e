"""Talks to maas serve's KServe V2 gRPC endpoint with tritonclient.grpc: every RPC, an
inference with its defaults (set_data_from_numpy: raw_input_contents, raw_output_contents
back), the same inference with typed contents through the protocol's own stub, and requests
that must fail, with their status codes.

usage: triton_grpc.py ADDRESS MODEL CASE.json   (ADDRESS like 127.0.0.1:8081)
Prints JSON.
"""
import json
import sys

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

NUMPY = {"BOOL": np.bool_, "UINT8": np.uint8, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
         "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
         "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64}
TYPED = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
         "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
         "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
         "FP32": "fp32_contents", "FP64": "fp64_contents"}


def arrays(case):
    return {name: np.asarray(t["data"], dtype=NUMPY[t["datatype"]]).reshape(t["shape"])
            for name, t in case["inputs"].items()}


def raw_infer(client, model, case):
    inputs = []
    for name, value in arrays(case).items():
        item = grpcclient.InferInput(name, list(value.shape), case["inputs"][name]["datatype"])
        item.set_data_from_numpy(value)
        inputs.append(item)
    outputs = [grpcclient.InferRequestedOutput(name) for name in case["outputs"]]
    result = client.infer(model, inputs, outputs=outputs, request_id="raw-1")
    response = result.get_response()
    return {
        "id": response.id,
        "model_name": response.model_name,
        "outputs": {name: {"datatype": result.get_output(name).datatype,
                           "shape": list(result.as_numpy(name).shape),
                           "data": result.as_numpy(name).reshape(-1).tolist()}
                    for name in case["outputs"]},
    }


def typed_request(model, case, override=None):
    request = service_pb2.ModelInferRequest(model_name=model)
    for name, t in case["inputs"].items():
        tensor = request.inputs.add(name=name, datatype=t["datatype"], shape=t["shape"])
        values = np.asarray(t["data"]).reshape(-1).tolist()
        field = TYPED[t["datatype"]]
        if override and name in override:
            field, values = override[name]
        getattr(tensor.contents, field).extend(values)
    return request


def code_of(call):
    try:
        call()
        return {"code": "OK", "message": ""}
    except InferenceServerException as e:
        return {"code": str(e.status()).replace("StatusCode.", ""), "message": e.message()}
    except grpc.RpcError as e:
        return {"code": e.code().name, "message": e.details()}


def main():
    address, model, case_path = sys.argv[1:4]
    case = json.load(open(case_path))
    client = grpcclient.InferenceServerClient(url=address)
    answer = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "server_metadata": client.get_server_metadata(as_json=True),
        "model_metadata": client.get_model_metadata(model, as_json=True),
        "raw": raw_infer(client, model, case),
    }
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(address))
    typed = stub.ModelInfer(typed_request(model, case))
    answer["typed"] = {
        out.name: {"datatype": out.datatype, "shape": list(out.shape),
                   "data": np.frombuffer(raw, dtype=NUMPY[out.datatype]).tolist()}
        for out, raw in zip(typed.outputs, typed.raw_output_contents)
    }
    first = next(iter(case["inputs"]))
    spec = case["inputs"][first]
    wrong_field = "int64_contents" if spec["datatype"] != "INT64" else "fp32_contents"
    answer["errors"] = {
        "unknown_model": code_of(lambda: client.get_model_metadata("nope")),
        "unknown_model_ready": code_of(lambda: client.is_model_ready("nope")),
        "unknown_model_infer": code_of(lambda: stub.ModelInfer(typed_request("nope", case))),
        "wrong_version": code_of(lambda: client.get_model_metadata(model, model_version="999")),
        "wrong_field": code_of(lambda: stub.ModelInfer(
            typed_request(model, case, {first: (wrong_field, [1] * int(np.prod(spec["shape"])))}))),
        "short_data": code_of(lambda: stub.ModelInfer(
            typed_request(model, case, {first: (TYPED[spec["datatype"]], [0])}))),
        "unknown_input": code_of(lambda: stub.ModelInfer(service_pb2.ModelInferRequest(
            model_name=model, inputs=[service_pb2.ModelInferRequest.InferInputTensor(
                name="nope", datatype="FP32", shape=[1])]))),
        "raw_count": code_of(lambda: stub.ModelInfer(service_pb2.ModelInferRequest(
            model_name=model, inputs=typed_request(model, case).inputs,
            raw_input_contents=[b"\0\0\0\0"]))),
        "overflowing_shape": code_of(lambda: stub.ModelInfer(service_pb2.ModelInferRequest(
            model_name=model, inputs=[service_pb2.ModelInferRequest.InferInputTensor(
                name=first, datatype=spec["datatype"], shape=[2**62, 2**62])],
            raw_input_contents=[b""]))),
    }
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
