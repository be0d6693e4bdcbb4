#!/usr/bin/env python3
"""Builds HotSwap's demo model: an iris classifier exported to ONNX.

Trains scikit-learn's LogisticRegression on the iris data set that ships inside scikit-learn
(nothing is downloaded), converts it with skl2onnx and writes into OUT_DIR:

  iris.onnx           input "input" FP32 [-1,4]; outputs "label" INT64 [-1] and
                      "probabilities" FP32 [-1,3]
  iris.metadata.json  what `hotswap` registers with the version: framework, schema (the
                      domain::TensorSchema JSON), training metadata (dataset sha256, hyper-
                      parameters, held-out accuracy) and a performance baseline
  iris.samples.json   sample inputs with the outputs onnxruntime's Python package computes for
                      them, as V2-style tensors {name, datatype, shape, data}

Run with the project venv (scripts/install-deps.sh makes it):
  .venv/bin/python models/make_demo_model.py --out build/models/demo
Deterministic: the same package versions give byte-identical files.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
import skl2onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

IRIS_CSV = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data", "iris.csv")
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
HYPERPARAMETERS = {"C": 1.0, "max_iter": 1000, "solver": "lbfgs", "test_size": 0.3,
                   "random_state": 0}


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def iris_split():
    """(x_train, x_test, y_train, y_test) as float32 / int64, fixed split."""
    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    return train_test_split(x, y.astype(np.int64), test_size=HYPERPARAMETERS["test_size"],
                            random_state=HYPERPARAMETERS["random_state"], stratify=y)


def build_iris_model():
    """Returns (onnx ModelProto, fitted classifier, held-out accuracy)."""
    x_train, x_test, y_train, y_test = iris_split()
    clf = LogisticRegression(C=HYPERPARAMETERS["C"], max_iter=HYPERPARAMETERS["max_iter"],
                             solver=HYPERPARAMETERS["solver"])
    clf.fit(x_train, y_train)
    accuracy = float((clf.predict(x_test) == y_test).mean())
    model = to_onnx(clf, initial_types=[("input", FloatTensorType([None, 4]))],
                    options={id(clf): {"zipmap": False}}, target_opset=TARGET_OPSET)
    model.doc_string = "HotSwap demo: iris LogisticRegression (scikit-learn -> skl2onnx)"
    model.producer_name = "hotswap-models"
    onnx.checker.check_model(model)
    return model, clf, accuracy


def tensor_json(name, array):
    """A V2-style tensor {name, datatype, shape, data} with row-major flattened data."""
    datatypes = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64",
                 np.dtype(np.int64): "INT64", np.dtype(np.int32): "INT32",
                 np.dtype(np.bool_): "BOOL"}
    if array.dtype.kind in ("U", "S", "O"):
        data = [v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
        return {"name": name, "datatype": "BYTES", "shape": list(array.shape), "data": data}
    return {"name": name, "datatype": datatypes[array.dtype], "shape": list(array.shape),
            "data": array.reshape(-1).tolist()}


def schema_json(model):
    """The domain::TensorSchema JSON for an ONNX model's graph inputs/outputs."""
    names = {onnx.TensorProto.FLOAT: "FP32", onnx.TensorProto.INT64: "INT64",
             onnx.TensorProto.DOUBLE: "FP64", onnx.TensorProto.STRING: "BYTES"}

    def spec(value_info):
        t = value_info.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        return {"name": value_info.name, "datatype": names[t.elem_type], "shape": shape}

    return {"inputs": [spec(v) for v in model.graph.input],
            "outputs": [spec(v) for v in model.graph.output]}


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    model, _, accuracy = build_iris_model()
    model_path = os.path.join(args.out, "iris.onnx")
    with open(model_path, "wb") as f:
        f.write(model.SerializeToString())

    metadata = {
        "framework": "onnx",
        "schema": schema_json(model),
        "training": {
            "framework": "sklearn",
            "framework_version": sklearn.__version__,
            "run_id": "iris-logreg-demo",
            "code_commit": "",
            "dataset_uri": "sklearn:datasets/data/iris.csv",
            "dataset_sha256": sha256_of(IRIS_CSV),
            "hyperparameters": dict(HYPERPARAMETERS, model="LogisticRegression",
                                    converter="skl2onnx " + skl2onnx.__version__),
            "metrics": {"accuracy": accuracy},
            "created_by": "models/make_demo_model.py",
        },
        "baseline": {
            "latency_p50_ms": 1.0,
            "latency_p99_ms": 5.0,
            "quality": {"name": "accuracy", "value": accuracy, "tolerated_drop": 0.05,
                        "higher_is_better": True},
        },
    }
    # Exactly what `hotswap version upload --metadata` takes.
    write_json(os.path.join(args.out, "iris.metadata.json"), metadata)
    with open(os.path.join(args.out, "iris.onnx.sha256"), "w") as f:
        f.write(sha256_of(model_path) + "  iris.onnx\n")

    # Sample requests: one row per class plus a batch of the first 8 held-out rows.
    _, x_test, _, y_test = iris_split()
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    samples = []
    rows = [x_test[np.argmax(y_test == c)][None, :] for c in range(3)] + [x_test[:8]]
    for i, x in enumerate(rows):
        label, probabilities = session.run(["label", "probabilities"], {"input": x})
        samples.append({"id": f"sample-{i}", "inputs": [tensor_json("input", x)],
                        "outputs": [tensor_json("label", label),
                                    tensor_json("probabilities", probabilities)]})
    write_json(os.path.join(args.out, "iris.samples.json"),
               {"model": "iris.onnx", "reference": f"onnxruntime {ort.__version__} (Python)",
                "samples": samples})
    print(f"make_demo_model: wrote {model_path} (held-out accuracy {accuracy:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
