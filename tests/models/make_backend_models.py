#!/usr/bin/python3
"""Builds the XGBoost and TorchScript models the backend tests load, and their references.

  /usr/bin/python3 tests/models/make_backend_models.py --framework xgboost --out build/models/xgboost
  /usr/bin/python3 tests/models/make_backend_models.py --framework torchscript --out build/models/torchscript

Run with Debian's Python: its python3-xgboost (1.7) and python3-torch (1.13) are the same
versions as the libxgboost-dev and libtorch-dev the backends link, so the files are exactly what
those engines read, and the references are each framework's own Python prediction.

Writes into OUT_DIR, for --framework xgboost:
  xgb_binary.json        binary:logistic, 8 features, 100 trees (JSON model format)
  xgb_binary.ubj         the same booster in UBJSON
  xgb_binary.bin         the same booster in XGBoost's legacy binary format
  xgb_multiclass.json    multi:softprob, 3 classes, 6 features, 100 rounds (300 trees)
  xgb_regressor.json     reg:squarederror, 5 features, 100 trees
  xgb_bench.json         binary:logistic, 16 features, 100 trees of depth 6 (bench/)
  corrupt.json           the first half of xgb_binary.json
for --framework torchscript:
  mlp_script.pt          TorchScript (torch.jit.script) MLP 4 -> 16 -> 3: input [batch,4] -> output
  mlp_trace.pt           the same MLP through torch.jit.trace
  mlp.onnx               the same MLP through torch.onnx.export (input -> output)
  two_io.pt              TorchScript forward(a, b) -> (a + b, a * b.sum(1, keepdim=True)), FP64
  int64_io.pt            TorchScript forward(x) -> x * 3 + 1 on INT64
  state_dict.pt          torch.save of the MLP's state_dict: a PyTorch zip that is not TorchScript
  bench_mlp.pt, bench_mlp.onnx   the benchmark MLP (bench/) 32 -> 64 -> 64 -> 8
  corrupt.pt             the first two thirds of mlp_script.pt
and for both:
  references.json        {"cases": [{id, model, inputs, outputs, reference}]} (V2 JSON tensors)

Deterministic: fixed seeds.
"""

import argparse
import json
import os
import sys

import numpy as np


def tensor_json(name, array):
    array = np.asarray(array)
    datatypes = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64",
                 np.dtype(np.int64): "INT64", np.dtype(np.int32): "INT32"}
    data = array.reshape(-1).tolist()
    if array.dtype.kind == "f":  # JSON has no NaN: a missing value is null
        data = [None if v != v else v for v in data]
    return {"name": name, "datatype": datatypes[array.dtype], "shape": list(array.shape),
            "data": data}


def case(case_id, model, inputs, outputs, reference):
    return {"id": case_id, "model": model, "reference": reference,
            "inputs": [tensor_json(n, a) for n, a in inputs],
            "outputs": [tensor_json(n, a) for n, a in outputs]}


# ---- XGBoost ----------------------------------------------------------------------------------

def xgb_data(rng, rows, features):
    x = rng.normal(size=(rows, features)).astype(np.float32)
    return x


def train(params, x, y, rounds=100):
    params = dict(params, seed=0, nthread=1, max_depth=params.get("max_depth", 4), eta=0.1)
    return xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=rounds)


def xgboost_models(out, cases):
    global xgb
    import xgboost as xgb
    rng = np.random.default_rng(11)

    # Binary classifier; one missing value per sample row of the test set exercises NaN handling.
    x = xgb_data(rng, 600, 8)
    y = ((x[:, 0] + 0.5 * x[:, 1] * x[:, 2] - x[:, 3]) > 0).astype(np.float32)
    booster = train({"objective": "binary:logistic"}, x, y)
    assert booster.num_boosted_rounds() == 100
    booster.save_model(os.path.join(out, "xgb_binary.json"))
    booster.save_model(os.path.join(out, "xgb_binary.ubj"))
    booster.save_model(os.path.join(out, "xgb_binary.bin"))
    for batch in (1, 64):
        xt = xgb_data(np.random.default_rng(batch), batch, 8)
        if batch > 1:
            xt[3, 2] = np.nan
        d = xgb.DMatrix(xt)
        p = booster.predict(d).astype(np.float32)
        probs = np.stack([1 - p, p], axis=1).astype(np.float32)
        label = (p > 0.5).astype(np.int64)
        contribs = booster.predict(d, pred_contribs=True).astype(np.float32)
        for fmt in ("json", "ubj", "bin"):
            cases.append(case(f"xgb_binary_{fmt}_b{batch}", f"xgb_binary.{fmt}", [("input", xt)],
                              [("label", label), ("probabilities", probs)],
                              "xgboost Booster.predict (probability of class 1)"))
        cases.append(case(f"xgb_binary_contribs_b{batch}", "xgb_binary.json", [("input", xt)],
                          [("contributions", contribs)],
                          "xgboost Booster.predict(pred_contribs=True)"))

    # Multi-class classifier.
    x = xgb_data(rng, 600, 6)
    y = np.digitize(x[:, 0] + x[:, 1] - 0.5 * x[:, 5], [-0.7, 0.7]).astype(np.float32)
    booster = train({"objective": "multi:softprob", "num_class": 3}, x, y)
    booster.save_model(os.path.join(out, "xgb_multiclass.json"))
    xt = xgb_data(np.random.default_rng(5), 16, 6)
    d = xgb.DMatrix(xt)
    probs = booster.predict(d).astype(np.float32)
    cases.append(case("xgb_multiclass", "xgb_multiclass.json", [("input", xt)],
                      [("label", probs.argmax(axis=1).astype(np.int64)), ("probabilities", probs)],
                      "xgboost Booster.predict (softprob)"))
    cases.append(case("xgb_multiclass_contribs", "xgb_multiclass.json", [("input", xt)],
                      [("contributions", booster.predict(d, pred_contribs=True).astype(np.float32))],
                      "xgboost Booster.predict(pred_contribs=True)"))

    # Regressor.
    x = xgb_data(rng, 600, 5)
    y = (2 * x[:, 0] - x[:, 1] ** 2 + np.sin(x[:, 2]) + 0.1 * rng.normal(size=600)).astype(np.float32)
    booster = train({"objective": "reg:squarederror"}, x, y)
    booster.save_model(os.path.join(out, "xgb_regressor.json"))
    for batch in (1, 32):
        xt = xgb_data(np.random.default_rng(50 + batch), batch, 5)
        d = xgb.DMatrix(xt)
        cases.append(case(f"xgb_regressor_b{batch}", "xgb_regressor.json", [("input", xt)],
                          [("predictions", booster.predict(d).astype(np.float32))],
                          "xgboost Booster.predict"))
        cases.append(case(f"xgb_regressor_contribs_b{batch}", "xgb_regressor.json",
                          [("input", xt)],
                          [("contributions",
                            booster.predict(d, pred_contribs=True).astype(np.float32))],
                          "xgboost Booster.predict(pred_contribs=True)"))

    # Benchmark ensemble.
    x = xgb_data(rng, 2000, 16)
    y = ((x[:, :8].sum(axis=1) - x[:, 8:].prod(axis=1)) > 0).astype(np.float32)
    train({"objective": "binary:logistic", "max_depth": 6}, x, y).save_model(
        os.path.join(out, "xgb_bench.json"))

    raw = open(os.path.join(out, "xgb_binary.json"), "rb").read()
    with open(os.path.join(out, "corrupt.json"), "wb") as f:
        f.write(raw[: len(raw) // 2])


# ---- TorchScript ------------------------------------------------------------------------------

import importlib.util  # noqa: E402

if importlib.util.find_spec("torch"):
    import torch

    class Mlp(torch.nn.Module):
        def __init__(self, sizes):
            super().__init__()
            layers = []
            for i in range(len(sizes) - 1):
                layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
                if i < len(sizes) - 2:
                    layers.append(torch.nn.ReLU())
            self.net = torch.nn.Sequential(*layers)

        def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (the V2 input name)
            return self.net(input)


    class TwoIo(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor):
            return a + b, a * b.sum(1, keepdim=True)


    class Int64Io(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 3 + 1


def export_onnx(module, example, path):
    torch.onnx.export(module, example, path, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                      opset_version=13)


def torch_models(out, cases):
    torch.manual_seed(3)
    mlp = Mlp([4, 16, 3]).eval()
    example = torch.zeros(2, 4)
    torch.jit.script(mlp).save(os.path.join(out, "mlp_script.pt"))
    torch.jit.trace(mlp, example).save(os.path.join(out, "mlp_trace.pt"))
    export_onnx(mlp, example, os.path.join(out, "mlp.onnx"))
    torch.save(mlp.state_dict(), os.path.join(out, "state_dict.pt"))
    with torch.inference_mode():
        for batch in (1, 64):
            x = torch.from_numpy(np.random.default_rng(200 + batch).normal(size=(batch, 4))
                                 .astype(np.float32))
            y = mlp(x).numpy()
            for kind in ("script", "trace"):
                cases.append(case(f"mlp_{kind}_b{batch}", f"mlp_{kind}.pt", [("input", x.numpy())],
                                  [("output", y)], "torch nn.Module forward"))

    two = torch.jit.script(TwoIo())
    two.save(os.path.join(out, "two_io.pt"))
    a = torch.from_numpy(np.random.default_rng(7).normal(size=(5, 3)))
    b = torch.from_numpy(np.random.default_rng(8).normal(size=(5, 3)))
    s, p = TwoIo()(a, b)
    cases.append(case("two_io", "two_io.pt", [("a", a.numpy()), ("b", b.numpy())],
                      [("sum", s.numpy()), ("scaled", p.numpy())], "torch forward"))

    torch.jit.script(Int64Io()).save(os.path.join(out, "int64_io.pt"))
    x = torch.tensor([[1, -2], [2**40 + 1, 7], [-(2**52) - 3, 2**52 + 1]], dtype=torch.int64)
    cases.append(case("int64_io", "int64_io.pt", [("x", x.numpy())],
                      [("y", (x * 3 + 1).numpy())], "torch forward"))

    bench = Mlp([32, 64, 64, 8]).eval()
    torch.jit.script(bench).save(os.path.join(out, "bench_mlp.pt"))
    export_onnx(bench, torch.zeros(2, 32), os.path.join(out, "bench_mlp.onnx"))

    raw = bytearray(open(os.path.join(out, "mlp_script.pt"), "rb").read())
    with open(os.path.join(out, "corrupt.pt"), "wb") as f:
        f.write(bytes(raw[: len(raw) * 2 // 3]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", required=True, choices=["xgboost", "torchscript"])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cases = []
    if args.framework == "xgboost":
        xgboost_models(args.out, cases)
    else:
        torch.set_num_threads(1)
        torch_models(args.out, cases)
    with open(os.path.join(args.out, "references.json"), "w") as f:
        json.dump({"cases": cases}, f)
    print(f"make_backend_models: {len(cases)} reference cases in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
