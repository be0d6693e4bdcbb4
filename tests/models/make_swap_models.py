#!/usr/bin/env python3
"""Builds the small models the serving tests swap between under load.

  .venv/bin/python tests/models/make_swap_models.py --out build/models/swap

Writes add_1.onnx, add_2.onnx, add_3.onnx: x FP32 [batch,4] -> y = x + k FP32 [batch,4]. A
response therefore tells which version computed it (y - x == k), so a test can check that every
answer is consistent with the version it names.

Deliberately bad candidates for the rollout tests, same signature and answers (y = x + k):
  slow_add_2.onnx   about SLOW_MATVECS 512x512 mat-vec products per row before answering (a few
                    ms per request on one core), multiplied by 0 so the answer is unchanged;
  flaky_add_2.onnx  fails (ONNX Runtime: Gather index out of bounds) when x[:,0] >= 10 or < -10.

For the monitoring and rollout-analysis tests, regression models:
  sum_4.onnx          x FP32 [batch,4] -> y = sum of the row FP32 [batch,1];
  neg_sum_4.onnx      y = -sum: for inputs symmetric around 0 the same output distribution as
                      sum_4, but wrong (a less accurate candidate only feedback can catch);
  sum_4_plus_3.onnx   y = sum + 3: a different output distribution (caught without feedback).
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


SLOW_MATVECS = 150


def _finish(nodes, name, x, y, inits) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="hotswap-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_slow_add(k: int) -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])
    inits = [
        numpy_helper.from_array(np.full((4,), float(k), dtype=np.float32), name="k"),
        numpy_helper.from_array((rng.standard_normal((4, 512)) * 0.01).astype(np.float32), name="w1"),
        numpy_helper.from_array((rng.standard_normal((512, 512)) * 0.001).astype(np.float32), name="w2"),
        numpy_helper.from_array(np.zeros((1,), dtype=np.float32), name="zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), name="axes"),
    ]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"])]
    for i in range(SLOW_MATVECS):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "w2"], [f"h{i + 1}"]))
    nodes += [
        helper.make_node("ReduceSum", [f"h{SLOW_MATVECS}", "axes"], ["s"], keepdims=1),
        helper.make_node("Mul", ["s", "zero"], ["s0"]),
        helper.make_node("Add", ["x", "k"], ["xk"]),
        helper.make_node("Add", ["xk", "s0"], ["y"]),
    ]
    return _finish(nodes, f"slow_add_{k}", x, y, inits)


def make_flaky_add(k: int) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])
    inits = [
        numpy_helper.from_array(np.full((4,), float(k), dtype=np.float32), name="k"),
        numpy_helper.from_array(np.zeros((10,), dtype=np.float32), name="table"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), name="start"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), name="end"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), name="axis"),
    ]
    nodes = [
        helper.make_node("Slice", ["x", "start", "end", "axis"], ["x0"]),
        helper.make_node("Cast", ["x0"], ["idx"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "idx"], ["g"], axis=0),
        helper.make_node("Add", ["x", "k"], ["xk"]),
        helper.make_node("Add", ["xk", "g"], ["y"]),
    ]
    return _finish(nodes, f"flaky_add_{k}", x, y, inits)


def make_sum(scale: float = 1.0, offset: float = 0.0, name: str = "sum_4") -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    inits = [numpy_helper.from_array(np.array([1], dtype=np.int64), name="axes")]
    if scale == 1.0 and offset == 0.0:
        nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)]
    else:
        inits += [numpy_helper.from_array(np.array([scale], dtype=np.float32), name="scale"),
                  numpy_helper.from_array(np.array([offset], dtype=np.float32), name="offset")]
        nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1),
                 helper.make_node("Mul", ["s", "scale"], ["ss"]),
                 helper.make_node("Add", ["ss", "offset"], ["y"])]
    return _finish(nodes, name, x, y, inits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for k in (1, 2, 3):
        onnx.save(make_add(k), os.path.join(args.out, f"add_{k}.onnx"))
    onnx.save(make_slow_add(2), os.path.join(args.out, "slow_add_2.onnx"))
    onnx.save(make_flaky_add(2), os.path.join(args.out, "flaky_add_2.onnx"))
    onnx.save(make_sum(), os.path.join(args.out, "sum_4.onnx"))
    onnx.save(make_sum(-1.0, 0.0, "neg_sum_4"), os.path.join(args.out, "neg_sum_4.onnx"))
    onnx.save(make_sum(1.0, 3.0, "sum_4_plus_3"), os.path.join(args.out, "sum_4_plus_3.onnx"))
    print(f"make_swap_models: wrote add_1..3, slow_add_2, flaky_add_2, sum_4, neg_sum_4 and "
          f"sum_4_plus_3 .onnx to {args.out}")


if __name__ == "__main__":
    main()
