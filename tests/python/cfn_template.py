"""Prints a CloudFormation/SAM template (YAML with short-form tags) as plain JSON, decoded by
cfn-lint's own parser, so the Rust tests can assert on its security properties.

usage: cfn_template.py TEMPLATE.yaml
"""
import json
import sys

from cfnlint.decode import decode

template, matches = decode(sys.argv[1])
if matches:
    sys.exit("cannot parse {}: {}".format(sys.argv[1], "; ".join(str(m) for m in matches)))
print(json.dumps(template, default=str))
