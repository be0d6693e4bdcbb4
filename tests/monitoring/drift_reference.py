#!/usr/bin/env python3
"""Reference values for HotSwap's drift statistics, computed with scipy/numpy.

Three modes:
  datasets  --out DIR              write the fixed CSV datasets (committed under tests/monitoring/data)
  reference --data DIR --out FILE  compute every statistic for the committed cases with scipy and
                                   write the JSON fixture the C++ unit tests read
                                   (tests/monitoring/drift_reference.json)
  check     --data DIR --hotswap BIN [--work DIR]
                                   recompute the references with scipy now, run
                                   `hotswap drift --json` (CSV reference and profile-JSON reference)
                                   on every case, plus a large generated case (asymptotic KS), and
                                   compare: numbers to 1e-6 (|a-b| <= 1e-6 * max(1, |b|)), nulls and
                                   drift flags exactly. Exit 1 on any mismatch.

The definitions follow docs/monitoring.md ("Drift and feature distributions"); this file
implements the binning independently (numpy) and takes every test statistic and p-value that
scipy defines from scipy itself.
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import scipy
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

MISSING = {"", "NA", "NaN", "null"}
BINS, TOP_K, EPS = 20, 20, 1e-4
FDR, PSI_T, W_T, UNSEEN_T, MISSING_T, SHARE = 0.05, 0.1, 0.1, 0.05, 0.05, 0.5

CASES = {
    # name: (reference csv, current csv, schema or None)
    "same": ("ref.csv", "cur_same.csv", "schema.json"),
    "shift": ("ref.csv", "cur_shift.csv", "schema.json"),
    "small": ("ref.csv", "cur_small.csv", "schema.json"),
    "empty_current": ("ref.csv", "cur_all_missing.csv", "schema.json"),
}


# ----------------------------------------------------------------------------- datasets
def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


COUNTRIES = ["NL", "DE", "FR", "BE", "US", "GB", "ES", "IT", "PL", "SE", "NO", "DK", "FI", "AT",
             "CH", "PT", "IE", "CZ", "HU", "RO", "GR", "BG", "Korea, Republic of", 'The "Other" One',
             "Côte d'Ivoire"]


def _dataset(rng, n, *, age_shift=0.0, score_missing=0.03, unseen=0.0, mobile=0.7, pred_shift=0.0):
    weights = 1.0 / np.arange(1, len(COUNTRIES) + 1)
    weights /= weights.sum()
    rows = []
    for _ in range(n):
        age = round(float(rng.normal(40 + age_shift, 10)), 1)
        income = round(float(rng.lognormal(10, 0.5)), 2)
        score = "" if rng.random() < score_missing else f"{rng.random():.4f}"
        country = "ZZ" if rng.random() < unseen else COUNTRIES[rng.choice(len(COUNTRIES), p=weights)]
        device = "mobile" if rng.random() < mobile else "desktop"
        pred = f"{1 / (1 + math.exp(-(age - 40) / 10 - pred_shift)):.4f}"
        rows.append([age, income, score, country, device, 7, "NA", pred])
    return rows


HEADER = ["age", "income", "score", "country", "device", "constant", "empty", "prediction"]


def make_datasets(out):
    os.makedirs(out, exist_ok=True)
    _write(os.path.join(out, "ref.csv"), HEADER, _dataset(np.random.default_rng(1), 2000))
    _write(os.path.join(out, "cur_same.csv"), HEADER, _dataset(np.random.default_rng(2), 2000))
    _write(os.path.join(out, "cur_shift.csv"), HEADER,
           _dataset(np.random.default_rng(3), 1800, age_shift=5, score_missing=0.2, unseen=0.1,
                    mobile=0.5, pred_shift=0.5))
    _write(os.path.join(out, "cur_small.csv"), HEADER, _dataset(np.random.default_rng(4), 37))
    _write(os.path.join(out, "cur_all_missing.csv"), HEADER, [["NA"] * len(HEADER)] * 25)
    with open(os.path.join(out, "schema.json"), "w") as f:
        json.dump({"columns": {"prediction": {"type": "numeric", "role": "output"},
                               "device": {"type": "categorical"}}}, f, indent=2)
        f.write("\n")


def make_big(out):
    """A large pair (12,000 vs 11,000 rows) for the asymptotic KS path; generated, not committed."""
    rng = np.random.default_rng(5)
    _write(os.path.join(out, "big_ref.csv"), ["x", "c"],
           [[f"{v:.6f}", c] for v, c in zip(rng.normal(0, 1, 12000), rng.choice(["a", "b", "c"], 12000))])
    _write(os.path.join(out, "big_cur.csv"), ["x", "c"],
           [[f"{v:.6f}", c] for v, c in zip(rng.normal(0.03, 1, 11000), rng.choice(["a", "b", "c"], 11000))])


# ----------------------------------------------------------------------------- statistics
def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return {name: [r[i] for r in body] for i, name in enumerate(header)}, header


def as_number(cell):
    try:
        v = float(cell.strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def column_type(cells, declared):
    if declared:
        return declared
    present = [c for c in cells if c not in MISSING]
    return "numeric" if all(as_number(c) is not None for c in present) else "categorical"


def numeric_bins(ref, cur):
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, BINS + 1)))
    regular = max(len(edges) - 1, 1)

    def counts(values):
        out = np.zeros(regular + 2, dtype=np.int64)
        for v in values:
            if v < edges[0]:
                out[0] += 1
            elif v > edges[-1]:
                out[-1] += 1
            else:
                j = min(np.searchsorted(edges, v, side="right") - 1, regular - 1)
                out[1 + j] += 1
        return out

    return counts(ref), counts(cur)


def categorical_bins(ref, cur):
    counts = {}
    for v in ref:
        counts[v] = counts.get(v, 0) + 1
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode("utf-8")))
    top = [k for k, _ in order[:TOP_K]]
    index = {k: i for i, k in enumerate(top)}
    other, unseen = len(top), len(top) + 1

    def bins(values):
        out = np.zeros(len(top) + 2, dtype=np.int64)
        for v in values:
            out[index[v] if v in index else (other if v in counts else unseen)] += 1
        return out

    return bins(ref), bins(cur)


def psi(p_counts, q_counts):
    def smooth(c):
        p = np.maximum(c / c.sum(), EPS)
        return p / p.sum()
    p, q = smooth(p_counts), smooth(q_counts)
    return float(np.sum((q - p) * np.log(q / p)))


def hellinger(p_counts, q_counts):
    p, q = p_counts / p_counts.sum(), q_counts / q_counts.sum()
    return float(np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2) / 2))


def chi2_two_sample(a, b):
    table = np.array([a, b])
    table = table[:, table.sum(axis=0) > 0]
    res = stats.chi2_contingency(table)
    return float(res.statistic), float(res.pvalue)


def compare_columns(ref_cols, cur_cols, header, schema):
    declared = {k: v.get("type") for k, v in (schema or {}).get("columns", {}).items()}
    features, tests = {}, []
    for name in header:
        rcells, ccells = ref_cols[name], cur_cols[name]
        kind = column_type(rcells, declared.get(name))
        r = [c for c in rcells if c not in MISSING]
        c = [x for x in ccells if x not in MISSING]
        f = {k: None for k in ("psi", "js_distance", "hellinger", "ks_statistic", "ks_pvalue",
                               "chi2_statistic", "chi2_pvalue", "wasserstein_norm",
                               "missing_rate_ref", "missing_rate_cur", "unseen_rate")}
        f["type"] = kind
        f["missing_rate_ref"] = (len(rcells) - len(r)) / len(rcells) if rcells else None
        f["missing_rate_cur"] = (len(ccells) - len(c)) / len(ccells) if ccells else None
        if r and c:
            if kind == "numeric":
                rv = np.array([as_number(x) for x in r])
                cv = np.array([as_number(x) for x in c])
                rb, cb = numeric_bins(rv, cv)
                ks = stats.ks_2samp(rv, cv)
                f["ks_statistic"], f["ks_pvalue"] = float(ks.statistic), float(ks.pvalue)
                w = stats.wasserstein_distance(rv, cv)
                sd = float(np.std(rv))
                f["wasserstein_norm"] = float(w / sd) if sd > 0 else float(w)
                tests.append((name, "dist", f["ks_pvalue"]))
            else:
                rb, cb = categorical_bins(r, c)
                f["chi2_statistic"], f["chi2_pvalue"] = chi2_two_sample(rb, cb)
                f["unseen_rate"] = float(cb[-1] / cb.sum())
                tests.append((name, "dist", f["chi2_pvalue"]))
            f["psi"] = psi(rb, cb)
            f["js_distance"] = float(jensenshannon(rb, cb, base=2))
            f["hellinger"] = hellinger(rb, cb)
        elif kind == "categorical" and c:
            f["unseen_rate"] = 1.0
        if rcells and ccells:
            _, p = chi2_two_sample([len(r), len(rcells) - len(r)], [len(c), len(ccells) - len(c)])
            tests.append((name, "missing", p))
        features[name] = f
    # Benjamini–Hochberg over every test of the comparison (scipy's adjusted p-values).
    significant = set()
    if tests:
        adjusted = stats.false_discovery_control([t[2] for t in tests], method="bh")
        significant = {(t[0], t[1]) for t, a in zip(tests, adjusted) if a <= FDR}
    drifted = 0
    for name, f in features.items():
        large = (f["psi"] or 0) >= PSI_T
        if f["type"] == "numeric":
            large = large or (f["wasserstein_norm"] or 0) >= W_T
        unseen = (f["unseen_rate"] or 0) >= UNSEEN_T
        dist = (name, "dist") in significant and (large or unseen)
        miss = ((name, "missing") in significant and
                abs(f["missing_rate_cur"] - f["missing_rate_ref"]) >= MISSING_T)
        f["drift"] = bool(dist or miss)
        drifted += f["drift"]
    return {"features": features, "dataset_drift": bool(drifted > 0 and drifted / len(features) >= SHARE)}


def compare_files(data, ref_name, cur_name, schema_name):
    ref_cols, header = read_csv(os.path.join(data, ref_name))
    cur_cols, _ = read_csv(os.path.join(data, cur_name))
    schema = None
    if schema_name:
        with open(os.path.join(data, schema_name)) as f:
            schema = json.load(f)
    return compare_columns(ref_cols, cur_cols, header, schema)


# ----------------------------------------------------------------------------- distribution tables
def golden(n, mult, offset, scale):
    """Deterministic samples both Python and C++ compute bit for bit: fmod(i*mult + offset, 1)*scale."""
    return [math.fmod(i * mult + offset, 1.0) * scale for i in range(n)]


KS_SAMPLE_CASES = [  # n1, n2, (mult, offset, scale) for each sample
    (10, 10, (0.6180339887498949, 0.0, 1.0), (0.7548776662466927, 0.1, 1.0)),
    (37, 53, (0.6180339887498949, 0.0, 1.0), (0.7548776662466927, 0.2, 1.1)),
    (200, 150, (0.6180339887498949, 0.0, 1.0), (0.7548776662466927, 0.0, 1.05)),
    (999, 1000, (0.6180339887498949, 0.0, 1.0), (0.7548776662466927, 0.0, 1.02)),
    (3000, 3000, (0.6180339887498949, 0.0, 1.0), (0.7548776662466927, 0.05, 1.0)),
    (10001, 40, (0.6180339887498949, 0.0, 1.0), (0.7548776662466927, 0.0, 1.1)),
    (12000, 11000, (0.6180339887498949, 0.0, 1.0), (0.7548776662466927, 0.0, 1.01)),
    (20000, 30000, (0.6180339887498949, 0.0, 1.0), (0.7548776662466927, 0.0, 1.002)),
]


def distribution_tables():
    chi2 = [{"x": x, "dof": k, "sf": float(stats.chi2.sf(x, k))}
            for k in (1, 2, 3, 5, 10, 21, 100, 1000)
            for x in (0.0, 0.01, 0.5, 1.0, 3.84, 10.0, 25.0, 100.0, 1100.0)]
    kstwo = [{"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))}
             for n in (1, 2, 5, 20, 140, 141, 500, 5000, 50000, 100001, 400000)
             for x in (0.0005, 0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.3, 0.6, 0.95)]
    smirnov = [{"n": n, "x": x, "sf": float(special.smirnov(n, x))}
               for n in (1, 3, 10, 100, 1000, 20000)
               for x in (0.0001, 0.01, 0.05, 0.2, 0.5, 0.9, 0.999)]
    ks = []
    for n1, n2, a, b in KS_SAMPLE_CASES:
        r = stats.ks_2samp(golden(n1, *a), golden(n2, *b))
        w = stats.wasserstein_distance(golden(n1, *a), golden(n2, *b))
        ks.append({"n1": n1, "n2": n2, "a": list(a), "b": list(b), "statistic": float(r.statistic),
                   "pvalue": float(r.pvalue), "wasserstein": float(w)})
    return {"chi2_sf": chi2, "kstwo_sf": kstwo, "smirnov_sf": smirnov, "ks_2samp": ks}


# ----------------------------------------------------------------------------- check
def close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def diff_reports(label, got, want):
    errors = []
    if got.get("dataset_drift") != want["dataset_drift"]:
        errors.append(f"{label}: dataset_drift {got.get('dataset_drift')} != {want['dataset_drift']}")
    if set(got.get("features", {})) != set(want["features"]):
        errors.append(f"{label}: features {sorted(got.get('features', {}))} != {sorted(want['features'])}")
        return errors
    for name, wf in want["features"].items():
        gf = got["features"][name]
        if set(gf) != set(wf):
            errors.append(f"{label}/{name}: keys {sorted(gf)} != {sorted(wf)}")
        for key, wv in wf.items():
            gv = gf.get(key)
            if isinstance(wv, bool) or isinstance(wv, str) or wv is None:
                ok = gv == wv
            else:
                ok = isinstance(gv, (int, float)) and not isinstance(gv, bool) and close(gv, wv)
            if not ok:
                errors.append(f"{label}/{name}/{key}: hotswap {gv!r}, scipy {wv!r}")
    return errors


def run_hotswap(binary, args):
    proc = subprocess.run([binary] + args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"hotswap {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc.stdout


def check(data, binary, work):
    errors, compared = [], 0
    make_big(work)
    cases = dict(CASES)
    cases["big"] = ("big_ref.csv", "big_cur.csv", None)
    for name, (ref, cur, schema) in cases.items():
        base = work if name == "big" else data
        want = compare_files(base, ref, cur, schema)
        schema_args = ["--schema", os.path.join(data, schema)] if schema else []
        ref_path, cur_path = os.path.join(base, ref), os.path.join(base, cur)
        got = json.loads(run_hotswap(binary, ["drift", "--reference", ref_path, "--current", cur_path,
                                              "--json"] + schema_args))
        errors += diff_reports(f"{name} (CSV reference)", got, want)
        profile = os.path.join(work, f"{name}.profile.json")
        run_hotswap(binary, ["profile", ref_path, "-o", profile, "--sample-size", "0"] + schema_args)
        got = json.loads(run_hotswap(binary, ["drift", "--reference", profile, "--current", cur_path, "--json"]))
        errors += diff_reports(f"{name} (profile reference)", got, want)
        compared += 2
    for e in errors:
        print("MISMATCH", e)
    print(f"scipy {scipy.__version__}: {compared} comparisons, {len(errors)} mismatches")
    return 1 if errors else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    d = sub.add_parser("datasets")
    d.add_argument("--out", required=True)
    r = sub.add_parser("reference")
    r.add_argument("--data", required=True)
    r.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--data", required=True)
    c.add_argument("--hotswap", required=True)
    c.add_argument("--work")
    args = ap.parse_args()
    if args.mode == "datasets":
        make_datasets(args.out)
        return 0
    if args.mode == "reference":
        out = {"generated_by": "tests/monitoring/drift_reference.py reference",
               "scipy": scipy.__version__, "numpy": np.__version__,
               "cases": {name: {"reference": ref, "current": cur, "schema": schema,
                                "expected": compare_files(args.data, ref, cur, schema)}
                         for name, (ref, cur, schema) in CASES.items()}}
        out.update(distribution_tables())
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
        return 0
    if args.work:
        os.makedirs(args.work, exist_ok=True)
        return check(args.data, args.hotswap, args.work)
    with tempfile.TemporaryDirectory() as work:
        return check(args.data, args.hotswap, work)


if __name__ == "__main__":
    sys.exit(main())
