"""Prints the model metadata maas serve's KServe V2 gRPC endpoint gives, as JSON.

usage: grpc_metadata.py ADDRESS MODEL   (ADDRESS like 127.0.0.1:8081)
"""
import json
import sys

import tritonclient.grpc as grpcclient


def main() -> None:
    client = grpcclient.InferenceServerClient(url=sys.argv[1])
    print(json.dumps(client.get_model_metadata(sys.argv[2], as_json=True)))


if __name__ == "__main__":
    main()
