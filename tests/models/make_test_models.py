#!/usr/bin/env python3
"""Builds the ONNX models the runtime tests load, and their reference outputs.

  .venv/bin/python tests/models/make_test_models.py --out build/models/test

Writes into OUT_DIR:
  iris.onnx            the demo iris classifier (models/make_demo_model.py): FP32 [-1,4] ->
                       label INT64 [-1], probabilities FP32 [-1,3]
  mlp_fp64.onnx        4 -> 16 -> 3 MLP on FP64: x [batch,4] -> logits [batch,3], probs [batch,3]
  two_inputs.onnx      a, b FP32 [batch,3] -> sum, product [batch,3], dot [batch]
  int64.onnx           x INT64 [batch,2] -> y = 3x+1 [batch,2], total [batch]
  strings.onnx         text BYTES [batch] -> id INT64 (LabelEncoder), echo BYTES (Identity)
  dtypes.onnx          for every V2 datatype T: in_T [-1] -> Identity -> out_T
  reshape_fail.onnx    x FP32 [n] -> Reshape [-1,3]: fails at run time unless 3 divides n
  large.onnx           x FP32 [batch,1024] -> MatMul 1024x2048 (8 MiB of weights) -> y
  zipmap.onnx          iris with skl2onnx's ZipMap: a sequence(map) output HotSwap refuses
  bfloat16.onnx        a BFLOAT16 input (no V2 datatype)
  custom_op.onnx       a node of an operator set no runtime knows
  invalid_graph.onnx   well-formed protobuf, graph uses an undefined tensor
  corrupt.onnx         the first half of iris.onnx with bytes overwritten
  not_onnx.onnx        a text file
  empty.onnx           zero bytes
  references.json      {"cases": [{id, model, inputs, outputs, reference}]}: inputs and the
                       outputs expected for them, computed independently of the C++ code by numpy
                       (and, for iris, scikit-learn), each checked against onnxruntime's Python
                       package, which must agree within 1e-5.

Deterministic: fixed seeds; the same package versions give byte-identical files.
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models"))
import make_demo_model  # noqa: E402

OPSETS = [helper.make_opsetid("", 17)]
TOLERANCE = 1e-5


def save(model, out, name, check=True):
    if check:
        onnx.checker.check_model(model)
    path = os.path.join(out, name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def make_model(nodes, inputs, outputs, initializers=(), name="test", opsets=OPSETS):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="hotswap-tests")
    model.ir_version = 8
    return model


def ort_run(path, feeds, outputs=None):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(outputs, feeds)


def check_close(case_id, expected, actual):
    for e, a in zip(expected, actual):
        e, a = np.asarray(e), np.asarray(a)
        assert e.shape == a.shape, (case_id, e.shape, a.shape)
        if e.dtype.kind in "fc":
            assert np.allclose(e, a, rtol=TOLERANCE, atol=TOLERANCE), (case_id, e, a)
        else:
            assert (e == a).all(), (case_id, e, a)


def case(case_id, model, inputs, outputs, reference):
    """inputs/outputs: lists of (name, ndarray)."""
    tj = make_demo_model.tensor_json
    return {"id": case_id, "model": model, "reference": reference,
            "inputs": [tj(n, a) for n, a in inputs], "outputs": [tj(n, a) for n, a in outputs]}


def iris(out, cases):
    model, clf, _ = make_demo_model.build_iris_model()
    path = save(model, out, "iris.onnx")
    x_all = make_demo_model.load_iris(return_X_y=True)[0].astype(np.float32)
    x_all = x_all[np.random.default_rng(7).permutation(len(x_all))]
    for batch in (1, 64):
        x = x_all[:batch]
        label, probabilities = clf.predict(x).astype(np.int64), clf.predict_proba(x).astype(np.float32)
        check_close(f"iris_b{batch}", [label, probabilities], ort_run(path, {"input": x}))
        cases.append(case(f"iris_b{batch}", "iris.onnx", [("input", x)],
                          [("label", label), ("probabilities", probabilities)],
                          "scikit-learn predict/predict_proba, checked against onnxruntime"))
    # The same model with ZipMap: outputs a sequence of maps.
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    zipmap = to_onnx(clf, initial_types=[("input", FloatTensorType([None, 4]))],
                     target_opset=make_demo_model.TARGET_OPSET)
    save(zipmap, out, "zipmap.onnx")


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def mlp_fp64(out, cases):
    rng = np.random.default_rng(42)
    w1, b1 = rng.normal(size=(4, 16)), rng.normal(size=16)
    w2, b2 = rng.normal(size=(16, 3)), rng.normal(size=3)
    inits = [numpy_helper.from_array(a, n) for a, n in
             [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"]),
             helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h"]),
             helper.make_node("MatMul", ["h", "w2"], ["l0"]),
             helper.make_node("Add", ["l0", "b2"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    model = make_model(
        nodes, [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["batch", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.DOUBLE, ["batch", 3]),
         helper.make_tensor_value_info("probs", TensorProto.DOUBLE, ["batch", 3])], inits, "mlp")
    path = save(model, out, "mlp_fp64.onnx")
    for batch in (1, 64):
        x = np.random.default_rng(batch).normal(size=(batch, 4))
        logits = np.maximum(x @ w1 + b1, 0) @ w2 + b2
        expected = [logits, softmax(logits)]
        check_close(f"mlp_fp64_b{batch}", expected, ort_run(path, {"x": x}))
        cases.append(case(f"mlp_fp64_b{batch}", "mlp_fp64.onnx", [("x", x)],
                          [("logits", expected[0]), ("probs", expected[1])], "numpy"))


def two_inputs(out, cases):
    nodes = [helper.make_node("Add", ["a", "b"], ["sum"]),
             helper.make_node("Mul", ["a", "b"], ["product"]),
             helper.make_node("ReduceSum", ["product", "axes"], ["dot"], keepdims=0)]
    model = make_model(
        nodes,
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("product", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("dot", TensorProto.FLOAT, ["batch"])],
        [numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")], "two_inputs")
    path = save(model, out, "two_inputs.onnx")
    for batch in (1, 5):
        rng = np.random.default_rng(100 + batch)
        a = rng.normal(size=(batch, 3)).astype(np.float32)
        b = rng.normal(size=(batch, 3)).astype(np.float32)
        expected = [a + b, a * b, (a * b).sum(axis=1, dtype=np.float32)]
        check_close(f"two_inputs_b{batch}", expected, ort_run(path, {"a": a, "b": b}))
        cases.append(case(f"two_inputs_b{batch}", "two_inputs.onnx", [("a", a), ("b", b)],
                          [("sum", expected[0]), ("product", expected[1]), ("dot", expected[2])],
                          "numpy"))


def int64_model(out, cases):
    nodes = [helper.make_node("Mul", ["x", "three"], ["x3"]),
             helper.make_node("Add", ["x3", "one"], ["y"]),
             helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=0)]
    inits = [numpy_helper.from_array(np.array(3, dtype=np.int64), "three"),
             numpy_helper.from_array(np.array(1, dtype=np.int64), "one"),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")]
    model = make_model(
        nodes, [helper.make_tensor_value_info("x", TensorProto.INT64, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["batch", 2]),
         helper.make_tensor_value_info("total", TensorProto.INT64, ["batch"])], inits, "int64")
    path = save(model, out, "int64.onnx")
    # Values beyond float32's (and, for y, double's) exact range catch a detour through floating
    # point; ONNX Runtime's int64 ReduceSum accumulates in double, so |total| stays below 2^53.
    x = np.array([[1, -2], [2**40 + 1, 7], [-(2**52) - 3, 2**52 + 1], [2**61 + 1, -1]],
                 dtype=np.int64)
    expected = [x * 3 + 1, x.sum(axis=1)]
    check_close("int64", expected, ort_run(path, {"x": x}))
    cases.append(case("int64", "int64.onnx", [("x", x)],
                      [("y", expected[0]), ("total", expected[1])], "numpy"))


def strings(out, cases):
    keys = ["setosa", "versicolor", "virginica"]
    nodes = [helper.make_node("LabelEncoder", ["text"], ["id"], domain="ai.onnx.ml",
                              keys_strings=keys, values_int64s=[0, 1, 2], default_int64=-1),
             helper.make_node("Identity", ["text"], ["echo"])]
    model = make_model(
        nodes, [helper.make_tensor_value_info("text", TensorProto.STRING, ["batch"])],
        [helper.make_tensor_value_info("id", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("echo", TensorProto.STRING, ["batch"])], name="strings",
        opsets=OPSETS + [helper.make_opsetid("ai.onnx.ml", 2)])
    path = save(model, out, "strings.onnx")
    text = np.array(["virginica", "setosa", "", "versicolor", "unknown ünïcode"], dtype=object)
    expected = [np.array([2, 0, -1, 1, -1], dtype=np.int64), text]
    check_close("strings", expected, ort_run(path, {"text": text}))
    cases.append(case("strings", "strings.onnx", [("text", text)],
                      [("id", expected[0]), ("echo", expected[1])], "by hand"))


DTYPES = {"bool": TensorProto.BOOL, "uint8": TensorProto.UINT8, "uint16": TensorProto.UINT16,
          "uint32": TensorProto.UINT32, "uint64": TensorProto.UINT64, "int8": TensorProto.INT8,
          "int16": TensorProto.INT16, "int32": TensorProto.INT32, "int64": TensorProto.INT64,
          "fp16": TensorProto.FLOAT16, "fp32": TensorProto.FLOAT, "fp64": TensorProto.DOUBLE,
          "bytes": TensorProto.STRING}


def dtypes(out):
    nodes = [helper.make_node("Identity", [f"in_{t}"], [f"out_{t}"]) for t in DTYPES]
    model = make_model(
        nodes, [helper.make_tensor_value_info(f"in_{t}", e, [-1]) for t, e in DTYPES.items()],
        [helper.make_tensor_value_info(f"out_{t}", e, [-1]) for t, e in DTYPES.items()],
        name="dtypes")
    # make_tensor_value_info turns -1 into dim_value -1; make it a symbolic dim instead.
    for v in list(model.graph.input) + list(model.graph.output):
        v.type.tensor_type.shape.dim[0].Clear()
        v.type.tensor_type.shape.dim[0].dim_param = "n"
    save(model, out, "dtypes.onnx")


def reshape_fail(out, cases):
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"])]
    model = make_model(
        nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
        [numpy_helper.from_array(np.array([-1, 3], dtype=np.int64), "shape")], "reshape_fail")
    path = save(model, out, "reshape_fail.onnx")
    x = np.arange(6, dtype=np.float32)
    check_close("reshape_ok", [x.reshape(-1, 3)], ort_run(path, {"x": x}))
    cases.append(case("reshape_ok", "reshape_fail.onnx", [("x", x)], [("y", x.reshape(-1, 3))],
                      "numpy"))


def large(out):
    w = np.random.default_rng(3).normal(size=(1024, 2048)).astype(np.float32)
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2048])],
        [numpy_helper.from_array(w, "w")], "large")
    save(model, out, "large.onnx")


def refused(out, iris_path):
    bf16 = make_model([helper.make_node("Identity", ["x"], ["y"])],
                      [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [-1])],
                      [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [-1])],
                      name="bfloat16")
    save(bf16, out, "bfloat16.onnx")
    custom = make_model([helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")],
                        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                        name="custom_op",
                        opsets=OPSETS + [helper.make_opsetid("com.example", 1)])
    save(custom, out, "custom_op.onnx", check=False)
    invalid = make_model([helper.make_node("Add", ["x", "nowhere"], ["y"])],
                         [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                         name="invalid_graph")
    save(invalid, out, "invalid_graph.onnx", check=False)

    with open(iris_path, "rb") as f:
        data = bytearray(f.read())
    data = data[: len(data) // 2]
    for i in range(7, len(data), 13):
        data[i] = 0xFF
    with open(os.path.join(out, "corrupt.onnx"), "wb") as f:
        f.write(bytes(data))
    with open(os.path.join(out, "not_onnx.onnx"), "w") as f:
        f.write("This is a README, not an ONNX model.\n")
    open(os.path.join(out, "empty.onnx"), "wb").close()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    cases = []
    iris(args.out, cases)
    mlp_fp64(args.out, cases)
    two_inputs(args.out, cases)
    int64_model(args.out, cases)
    strings(args.out, cases)
    dtypes(args.out)
    reshape_fail(args.out, cases)
    large(args.out)
    refused(args.out, os.path.join(args.out, "iris.onnx"))
    make_demo_model.write_json(os.path.join(args.out, "references.json"),
                               {"onnxruntime_python": ort.__version__, "tolerance": TOLERANCE,
                                "cases": cases})
    print(f"make_test_models: wrote {len(cases)} reference cases to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
