"""Writes the part of botocore's SageMaker model the emulator answers with.

Run from internal/emulator:

    python3 testdata/extract_model.py > testdata/sagemaker-model.json

It keeps the two operations the emulator serves, ResourceNotFound, and every
shape they reach, without documentation, so model_test.go checks the
emulator's requests and answers against the model with no Python at test
time.
"""
import gzip
import json
import os
import sys

import botocore

OPERATIONS = ["ListLabelingJobs", "DescribeLabelingJob"]

path = os.path.join(os.path.dirname(botocore.__file__), "data", "sagemaker", "2017-07-24", "service-2.json.gz")
with gzip.open(path) as f:
    model = json.load(f)


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


shapes = {}


def reach(name):
    if name in shapes:
        return
    shape = strip(model["shapes"][name])
    shapes[name] = shape
    for member in shape.get("members", {}).values():
        reach(member["shape"])
    for part in ("member", "key", "value"):
        if part in shape:
            reach(shape[part]["shape"])


operations = {}
for op in OPERATIONS:
    o = strip(model["operations"][op])
    operations[op] = o
    reach(o["input"]["shape"])
    reach(o["output"]["shape"])
    for e in o.get("errors", []):
        reach(e["shape"])

json.dump(
    {
        "source": "botocore %s data/sagemaker/2017-07-24/service-2.json.gz" % botocore.__version__,
        "metadata": model["metadata"],
        "operations": operations,
        "shapes": dict(sorted(shapes.items())),
    },
    sys.stdout,
    indent=1,
    sort_keys=True,
)
print()
