#!/usr/bin/env python3
"""Builds the models the validation-gate and approval tests deploy.

  .venv/bin/python tests/models/make_gate_models.py --out build/models/gates

All take x FP32 [batch,4] and answer y [batch,1] unless said otherwise:
  sum_4.onnx          y = sum of the row (exact on a holdout whose label is the row's sum);
  sum_4_plus_1.onnx   y = sum + 1 (less accurate: mean absolute error 1 on that holdout);
  slow_sum_4.onnx     y = sum, after SLOW_MATVECS 512x512 mat-vec products (a few ms per run);
  nan_4.onnx          y = sum / 0 (never finite: the smoke gate refuses it);
  sum_4_renamed.onnx  the same as sum_4 with its input named `features` (x removed: breaking);
  sum_4_fp64.onnx     x FP64 -> y FP64 (x retyped: breaking);
  unknown_op.onnx     a well-formed ONNX file whose node no runtime implements (the load gate
                      refuses it).
"""

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SLOW_MATVECS = 150


def _finish(nodes, name, x, y, inits) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="hotswap-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_sum(name: str, offset: float = 0.0, input_name: str = "x",
             elem=TensorProto.FLOAT, dtype=np.float32) -> onnx.ModelProto:
    x = helper.make_tensor_value_info(input_name, elem, [None, 4])
    y = helper.make_tensor_value_info("y", elem, [None, 1])
    inits = [numpy_helper.from_array(np.array([1], dtype=np.int64), name="axes"),
             numpy_helper.from_array(np.array([offset], dtype=dtype), name="offset")]
    nodes = [helper.make_node("ReduceSum", [input_name, "axes"], ["s"], keepdims=1),
             helper.make_node("Add", ["s", "offset"], ["y"])]
    return _finish(nodes, name, x, y, inits)


def make_nan() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    inits = [numpy_helper.from_array(np.array([1], dtype=np.int64), name="axes"),
             numpy_helper.from_array(np.array([0.0], dtype=np.float32), name="zero")]
    nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1),
             helper.make_node("Div", ["s", "zero"], ["y"])]
    return _finish(nodes, "nan_4", x, y, inits)


def make_slow_sum() -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    inits = [
        numpy_helper.from_array((rng.standard_normal((4, 512)) * 0.01).astype(np.float32), name="w1"),
        numpy_helper.from_array((rng.standard_normal((512, 512)) * 0.001).astype(np.float32), name="w2"),
        numpy_helper.from_array(np.zeros((1,), dtype=np.float32), name="zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), name="axes"),
    ]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"])]
    for i in range(SLOW_MATVECS):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "w2"], [f"h{i + 1}"]))
    nodes += [
        helper.make_node("ReduceSum", [f"h{SLOW_MATVECS}", "axes"], ["hs"], keepdims=1),
        helper.make_node("Mul", ["hs", "zero"], ["h0s"]),
        helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1),
        helper.make_node("Add", ["s", "h0s"], ["y"]),
    ]
    return _finish(nodes, "slow_sum_4", x, y, inits)


def make_unknown_op() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    node = helper.make_node("NoSuchOperator", ["x"], ["y"])
    graph = helper.make_graph([node], "unknown_op", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="hotswap-tests")
    model.ir_version = 8
    return model  # deliberately not checked: the checker refuses it too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    models = {
        "sum_4": make_sum("sum_4"),
        "sum_4_plus_1": make_sum("sum_4_plus_1", offset=1.0),
        "slow_sum_4": make_slow_sum(),
        "nan_4": make_nan(),
        "sum_4_renamed": make_sum("sum_4_renamed", input_name="features"),
        "sum_4_fp64": make_sum("sum_4_fp64", elem=TensorProto.DOUBLE, dtype=np.float64),
        "unknown_op": make_unknown_op(),
    }
    for name, model in models.items():
        onnx.save(model, os.path.join(args.out, f"{name}.onnx"))
    print(f"make_gate_models: wrote {', '.join(models)} .onnx to {args.out}")


if __name__ == "__main__":
    main()
