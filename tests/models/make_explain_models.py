#!/usr/bin/env python3
"""Builds the small ONNX models the explanation tests explain.

  .venv/bin/python tests/models/make_explain_models.py --out build/models/explain

Writes:
  nonlinear_5.onnx  x FP32 [batch,5] -> y FP32 [batch,2], argmax INT64 [batch]
                    y0 = sin(x0)*x1 + x2^2 - x0*x3*x4 + 0.3*x1 + 0.6*x2
                    y1 = tanh(x0 + x1)*x2 + 0.5*x1*x3
                    (interactions between features, so Shapley values are not just the terms)
  linear_8.onnx     x FP64 [batch,8] -> y FP64 [batch]: y = x . w + 0.5 with w = 1..8 / 4
                    (for an additive model Kernel SHAP is exact at any sample size:
                    phi_i = w_i (x_i - mean of the background's column i))
"""

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LINEAR_W = (np.arange(1, 9, dtype=np.float64) / 4.0)


def _finish(nodes, name, inputs, outputs, inits) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="hotswap-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_nonlinear() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    am = helper.make_tensor_value_info("argmax", TensorProto.INT64, [None])
    inits = [numpy_helper.from_array(np.array([i], dtype=np.int64), name=f"i{i}") for i in range(6)]
    inits += [
        numpy_helper.from_array(np.array(0.3, dtype=np.float32), name="c03"),
        numpy_helper.from_array(np.array(0.6, dtype=np.float32), name="c06"),
        numpy_helper.from_array(np.array(0.5, dtype=np.float32), name="c05"),
    ]
    nodes = []
    for i in range(5):  # column i as [batch, 1]
        nodes.append(helper.make_node("Slice", ["x", f"i{i}", f"i{i + 1}", "i1"], [f"x{i}"]))
    nodes += [
        helper.make_node("Sin", ["x0"], ["s0"]),
        helper.make_node("Mul", ["s0", "x1"], ["a1"]),
        helper.make_node("Mul", ["x2", "x2"], ["a2"]),
        helper.make_node("Mul", ["x0", "x3"], ["t03"]),
        helper.make_node("Mul", ["t03", "x4"], ["a3"]),
        helper.make_node("Mul", ["x1", "c03"], ["a4"]),
        helper.make_node("Mul", ["x2", "c06"], ["a5"]),
        helper.make_node("Add", ["a1", "a2"], ["b1"]),
        helper.make_node("Sub", ["b1", "a3"], ["b2"]),
        helper.make_node("Add", ["b2", "a4"], ["b3"]),
        helper.make_node("Add", ["b3", "a5"], ["y0"]),
        helper.make_node("Add", ["x0", "x1"], ["u01"]),
        helper.make_node("Tanh", ["u01"], ["th"]),
        helper.make_node("Mul", ["th", "x2"], ["c1"]),
        helper.make_node("Mul", ["x1", "x3"], ["m13"]),
        helper.make_node("Mul", ["m13", "c05"], ["c2"]),
        helper.make_node("Add", ["c1", "c2"], ["y1"]),
        helper.make_node("Concat", ["y0", "y1"], ["y"], axis=1),
        helper.make_node("ArgMax", ["y"], ["argmax"], axis=1, keepdims=0),
    ]
    return _finish(nodes, "nonlinear_5", [x], [y, am], inits)


def make_linear() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 8])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, [None])
    inits = [numpy_helper.from_array(LINEAR_W, name="w"),
             numpy_helper.from_array(np.array(0.5, dtype=np.float64), name="b")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"]),
             helper.make_node("Add", ["xw", "b"], ["y"])]
    return _finish(nodes, "linear_8", [x], [y], inits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    onnx.save(make_nonlinear(), os.path.join(args.out, "nonlinear_5.onnx"))
    onnx.save(make_linear(), os.path.join(args.out, "linear_8.onnx"))
    print(f"make_explain_models: wrote nonlinear_5.onnx and linear_8.onnx to {args.out}")


if __name__ == "__main__":
    main()
