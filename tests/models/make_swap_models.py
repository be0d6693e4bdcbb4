#!/usr/bin/env python3
"""Builds the small models the serving tests swap between under load.

  .venv/bin/python tests/models/make_swap_models.py --out build/models/swap

Writes add_1.onnx, add_2.onnx, add_3.onnx: x FP32 [batch,4] -> y = x + k FP32 [batch,4]. A
response therefore tells which version computed it (y - x == k), so a test can check that every
answer is consistent with the version it names.
"""

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_add(k: int) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])
    const = numpy_helper.from_array(np.full((4,), float(k), dtype=np.float32), name="k")
    node = helper.make_node("Add", ["x", "k"], ["y"])
    graph = helper.make_graph([node], f"add_{k}", [x], [y], initializer=[const])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="hotswap-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for k in (1, 2, 3):
        onnx.save(make_add(k), os.path.join(args.out, f"add_{k}.onnx"))
    print(f"make_swap_models: wrote add_1..3.onnx to {args.out}")


if __name__ == "__main__":
    main()
