#!/usr/bin/env python3
"""Builds the TensorFlow SavedModels the TensorFlow backend tests load, and their references.

  .venv/bin/python tests/models/make_tensorflow_models.py --out build/models/tensorflow

Run with the project venv's tensorflow-cpu (tests/models/requirements-tensorflow.txt), the same
TensorFlow whose C API the backend loads. A SavedModel is a directory; HotSwap takes it as a tar
(optionally gzipped) of that directory.

Writes into OUT_DIR:
  mlp.tar             SavedModel of an MLP 4 -> 16 -> 3, entries at the top of the tar.
                      serving_default: input FP32 [-1,4] -> output FP32 [-1,3] (logits),
                                       probabilities FP32 [-1,3] (softmax)
                      argmax: input -> label INT64 [-1]
  mlp.tar.gz          the same SavedModel, gzipped, inside a directory mlp/ of the tar
  mlp_custom_signature.tar   the same with hotswap.json {"signature_def": "argmax"} at its top
  two_io.tar          serving_default: a FP64 [-1,3], b INT32 [-1] -> total FP64 [-1,3] (a + b)
  bench_mlp.tar       the benchmark MLP (bench/) 32 -> 64 -> 64 -> 8: input -> output
  no_saved_model.tar  a tar of the variables/ directory only
  corrupt.tar         the first half of mlp.tar
  references.json     {"cases": [{id, model, inputs, outputs, reference}]} (V2 JSON tensors),
                      each the SavedModel's own signature called from Python after loading it
"""

import argparse
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def tensor_json(name, array):
    array = np.asarray(array)
    datatypes = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64",
                 np.dtype(np.int64): "INT64", np.dtype(np.int32): "INT32"}
    return {"name": name, "datatype": datatypes[array.dtype], "shape": list(array.shape),
            "data": array.reshape(-1).tolist()}


def case(case_id, model, inputs, outputs, reference):
    return {"id": case_id, "model": model, "reference": reference,
            "inputs": [tensor_json(n, a) for n, a in inputs],
            "outputs": [tensor_json(n, a) for n, a in outputs]}


class Mlp(tf.Module):
    def __init__(self, sizes, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.layers = [(tf.Variable((rng.normal(size=(a, b)) / np.sqrt(a)).astype(np.float32)),
                        tf.Variable(rng.normal(size=(b,)).astype(np.float32)))
                       for a, b in zip(sizes[:-1], sizes[1:])]
        self.serve = tf.function(self._serve, input_signature=[
            tf.TensorSpec([None, sizes[0]], tf.float32, name="input")])
        self.argmax = tf.function(self._argmax, input_signature=[
            tf.TensorSpec([None, sizes[0]], tf.float32, name="input")])

    def logits(self, x):
        for i, (w, b) in enumerate(self.layers):
            x = tf.matmul(x, w) + b
            if i < len(self.layers) - 1:
                x = tf.nn.relu(x)
        return x

    def _serve(self, input):  # noqa: A002 (the V2 input name)
        y = self.logits(input)
        return {"output": y, "probabilities": tf.nn.softmax(y)}

    def _argmax(self, input):  # noqa: A002
        return {"label": tf.argmax(self.logits(input), axis=1)}


class TwoIo(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float64, name="a"),
                                  tf.TensorSpec([None], tf.int32, name="b")])
    def serve(self, a, b):
        return {"total": a + tf.cast(b, tf.float64)[:, None]}


def save(module, signatures, directory):
    tf.saved_model.save(module, directory, signatures=signatures)


def tar_dir(directory, path, top=None, gz=False, extra=None):
    with tarfile.open(path, "w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tar:
        for root, _, files in sorted(os.walk(directory)):
            for f in sorted(files):
                full = os.path.join(root, f)
                rel = os.path.relpath(full, directory)
                tar.add(full, arcname=os.path.join(top, rel) if top else rel)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tf.random.set_seed(0)
    cases = []
    work = tempfile.mkdtemp()
    try:
        mlp = Mlp([4, 16, 3], seed=5)
        d = os.path.join(work, "mlp")
        save(mlp, {"serving_default": mlp.serve, "argmax": mlp.argmax}, d)
        tar_dir(d, os.path.join(args.out, "mlp.tar"))
        tar_dir(d, os.path.join(args.out, "mlp.tar.gz"), top="mlp", gz=True)
        tar_dir(d, os.path.join(args.out, "mlp_custom_signature.tar"),
                extra={"hotswap.json": json.dumps({"signature_def": "argmax"}).encode()})
        tar_dir(os.path.join(d, "variables"), os.path.join(args.out, "no_saved_model.tar"),
                top="variables")
        raw = open(os.path.join(args.out, "mlp.tar"), "rb").read()
        with open(os.path.join(args.out, "corrupt.tar"), "wb") as f:
            f.write(raw[: len(raw) // 2])
        loaded = tf.saved_model.load(d)
        for batch in (1, 64):
            x = np.random.default_rng(300 + batch).normal(size=(batch, 4)).astype(np.float32)
            out = loaded.signatures["serving_default"](input=tf.constant(x))
            cases.append(case(f"mlp_b{batch}", "mlp.tar", [("input", x)],
                              [("output", out["output"].numpy()),
                               ("probabilities", out["probabilities"].numpy())],
                              "the SavedModel's serving_default signature, called from Python"))
            label = loaded.signatures["argmax"](input=tf.constant(x))["label"].numpy()
            cases.append(case(f"mlp_argmax_b{batch}", "mlp_custom_signature.tar", [("input", x)],
                              [("label", label)], "the SavedModel's argmax signature"))

        two = TwoIo()
        d = os.path.join(work, "two_io")
        save(two, {"serving_default": two.serve}, d)
        tar_dir(d, os.path.join(args.out, "two_io.tar"))
        loaded = tf.saved_model.load(d)
        a = np.random.default_rng(9).normal(size=(5, 3))
        b = np.arange(5, dtype=np.int32) - 2
        out = loaded.signatures["serving_default"](a=tf.constant(a), b=tf.constant(b))
        cases.append(case("two_io", "two_io.tar", [("a", a), ("b", b)],
                          [("total", out["total"].numpy())], "serving_default from Python"))

        bench = Mlp([32, 64, 64, 8], seed=11)
        d = os.path.join(work, "bench_mlp")
        save(bench, {"serving_default": bench.serve}, d)
        tar_dir(d, os.path.join(args.out, "bench_mlp.tar"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(args.out, "references.json"), "w") as f:
        json.dump({"cases": cases}, f)
    print(f"make_tensorflow_models: {len(cases)} reference cases in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
