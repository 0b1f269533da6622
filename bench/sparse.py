#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sparse.py - the pruning benchmark (issue 6): sparse kernels against the same model compiled
dense by ndlc and against ONNX Runtime on the dense-with-zeros model, plus artefact sizes.

    /usr/bin/python3 bench/sparse.py --ndlc build/ndlc [--out bench/out/sparse]
        [--min-runs 20] [--min-time 1.0] [--rounds 1] [--only mlp_s90,lin2to4]

Run bench/run.sh once first (it installs ONNX Runtime into bench/node_modules); this script
reuses its timing machinery (bench.py: ort.js server, the executable's --repeat statistics,
check.py). Cases, written into OUT (default bench/out/sparse/) with their own manifest.json:
  mlp_s90   bench/models/mlp.ndl's MLP 784-1024-1024-10 with models.py's weights, every
            weight pruned by l1_unstructured(0.9) and saved dense (exact zeros), batch 1, 64
  lin2to4   Linear(1024, 1024) whose weight keeps the 2 largest |w| of every 4, batch 64, 1
  lin4096_2to4  the same at bench/run.sh's linear4096 size (4096 x 4096), batch 64 (bounded in
            its .ndl: N <= 64); weights generated here (64 MiB), never committed
  cnn_c50   bench/models/cnn.ndl's ResNet-14 with half of the channels inside every residual
            block pruned (ln_structured(0.5) on each block's conv1, with the matching
            bn1 weight and bias, as structured pruning removes a channel), saved dense:
            ndlc's structured removal makes the blocks smaller; its "dense" is the UNPRUNED
            model (weights of models.py), so the table's MAC ratio is pruned / unpruned
Each is compiled twice from the same .ndl and weights: `ndlc` (the cost model picks sparse
formats from the zeros) and `ndlc --sparse off` (dense kernels). ORT runs the ONNX export of
the same pruned model (dense, zeros stored). Columns: times (median ms, and the minimum over
all timed runs of all rounds: the machine may be shared), dense/sparse and ORT/sparse
speedups (of the minima), the multiply-adds of the compiled models (ndlc's report), and the
size of each executable and of its --external-weights file.
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.utils.prune as prune  # noqa: E402

import bench  # noqa: E402
import models  # noqa: E402
import st  # noqa: E402


class SquareLinear(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.fc = nn.Linear(size, size)

    def forward(self, x):
        return self.fc(x)


def nm_mask(w, n, m):
    """Keeps the n largest |w| of every m consecutive elements of each row."""
    a = np.abs(w.reshape(-1, m))
    order = np.argsort(-a, axis=1, kind="stable")
    keep = np.zeros_like(a)
    np.put_along_axis(keep, order[:, :n], 1.0, axis=1)
    return keep.reshape(w.shape)


def mlp_s90():
    m = models.build("mlp")   # the dense benchmark's weights, then pruned
    for mod in (m.fc1, m.fc2, m.fc3):
        prune.l1_unstructured(mod, "weight", amount=0.9)
        prune.remove(mod, "weight")
    return m


def pruned_2to4(m, size):
    """Random weights (He scale) with the 2 largest |w| of every 4 kept."""
    torch.manual_seed(2024)
    with torch.no_grad():
        m.fc.weight.copy_(torch.randn(size, size) * (2.0 / size) ** 0.5)
        m.fc.bias.copy_(0.1 * torch.randn(size))
        w = m.fc.weight.numpy()
        m.fc.weight.mul_(torch.from_numpy(nm_mask(w, 2, 4)))
    return m.eval()


def lin2to4():
    return pruned_2to4(SquareLinear(1024), 1024)


def lin4096_2to4():
    return pruned_2to4(SquareLinear(4096), 4096)


LIN_NDL = """# Linear(%(size)d, %(size)d), a 2:4 case of bench/sparse.py
model Linear%(size)d {
  input  x: f32[%(batch)s, %(size)d];
  output y: f32[N, %(size)d];

  fc = Linear(%(size)d, %(size)d);

  forward {
    y = fc(x);
  }
}
"""
# the .ndl of the cases that have none in bench/models: name -> LIN_NDL's fields. lin4096_2to4
# bounds its batch (the cost model then sees 64 rows and picks the N:M kernel; an unbounded
# batch counts as one row, where 2:4 runs dense)
LIN_CASES = {"lin2to4": {"size": 1024, "batch": "N"}, "lin4096_2to4": {"size": 4096, "batch": "N <= 64"}}

def cnn_c50(pruned=True):
    m = models.build("cnn")
    if not pruned:
        return m
    for mod in m.modules():
        if hasattr(mod, "conv1") and hasattr(mod, "bn1"):  # BasicBlock, DownBlock
            prune.ln_structured(mod.conv1, "weight", amount=0.5, n=1, dim=0)
            keep = mod.conv1.weight_mask.reshape(mod.conv1.weight.shape[0], -1)[:, 0].clone()
            prune.custom_from_mask(mod.bn1, "weight", keep)
            prune.custom_from_mask(mod.bn1, "bias", keep)
            for module, name in ((mod.conv1, "weight"), (mod.bn1, "weight"), (mod.bn1, "bias")):
                prune.remove(module, name)
    return m.eval()


# name -> (builder, input shape without the batch, batches, .ndl, what it is)
CASES = {
    "mlp_s90": (mlp_s90, [784], [1, 64], os.path.join(HERE, "models", "mlp.ndl"),
                "MLP 784-1024-1024-10, 90% unstructured (l1_unstructured per layer)"),
    "lin2to4": (lin2to4, [1024], [64, 1], None, "Linear 1024x1024, 2:4"),
    "lin4096_2to4": (lin4096_2to4, [4096], [64], None,
                     "Linear 4096x4096 (bench/run.sh's linear4096), 2:4, batch bounded by 64"),
    "cnn_c50": (cnn_c50, [3, 32, 32], [1, 16], os.path.join(HERE, "models", "cnn.ndl"),
                "ResNet-14, 50% of the channels inside each block pruned (structured)"),
}
# cases whose "dense" variant is another model: name -> its builder (weights NAME.dense.safetensors)
DENSE_MODEL = {"cnn_c50": lambda: cnn_c50(pruned=False)}


def write_case(name, out):
    """Weights, ONNX, inputs and PyTorch references of one case (only what is missing)."""
    build, shape, batches, _, _ = CASES[name]
    wpath = os.path.join(out, name + ".safetensors")
    m = build().eval()
    if not os.path.exists(wpath):
        st.save(wpath, {k: v.detach().numpy() for k, v in m.state_dict().items()})
    dpath = os.path.join(out, name + ".dense.safetensors")
    if name in DENSE_MODEL and not os.path.exists(dpath):
        st.save(dpath, {k: v.detach().numpy() for k, v in DENSE_MODEL[name]().state_dict().items()})
    opath = os.path.join(out, name + ".onnx")
    if not os.path.exists(opath):
        torch.onnx.export(m, (torch.zeros([2] + shape),), opath, opset_version=17, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    for b in batches:
        ipath = os.path.join(out, "%s.b%d.in.safetensors" % (name, b))
        rpath = os.path.join(out, "%s.b%d.ref.safetensors" % (name, b))
        if not (os.path.exists(ipath) and os.path.exists(rpath)):
            x = np.random.default_rng(models.seed_of(name) * 1000 + b).standard_normal(
                [b] + shape).astype(np.float32)
            with torch.inference_mode():
                y = m(torch.from_numpy(x)).numpy().astype(np.float32)
            st.save(ipath, {"x": x})
            st.save(rpath, {"y": y})


def manifest(names):
    out = {"noop": {"onnx": "noop.onnx", "shape": models.NOOP_SHAPE}, "models": []}
    for n in names:
        _, shape, batches, _, doc = CASES[n]
        out["models"].append({
            "name": n, "doc": doc, "input_shape": shape, "batches": batches,
            "onnx": n + ".onnx", "weights": n + ".safetensors",
            "cases": [{"batch": b, "input": "%s.b%d.in.safetensors" % (n, b),
                       "ref": "%s.b%d.ref.safetensors" % (n, b)} for b in batches]})
    return out


def compile_variant(a, name, ndl, extra, suffix, weights=None):
    """ndlc NDL --weights W -o OUT/NAME.SUFFIX [extra]; also --external-weights to measure the
    weight file. Returns (exe, exe bytes, weight-file bytes, report)."""
    exe = os.path.join(a.out, "%s.%s" % (name, suffix))
    weights = weights or os.path.join(a.out, name + ".safetensors")
    base = [a.ndlc, ndl, "--weights", weights] + extra
    subprocess.run(base + ["-o", exe, "--report", exe + ".report.json"], check=True)
    ext = exe + ".ext"
    subprocess.run(base + ["--external-weights", "-o", ext], check=True)
    wfile = ext + ".weights.safetensors"
    with open(exe + ".report.json") as f:
        rep = json.load(f)
    return exe, os.path.getsize(exe), os.path.getsize(wfile) if os.path.exists(wfile) else None, rep


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ndlc", required=True)
    ap.add_argument("--out", default=os.path.join(HERE, "out", "sparse"))
    ap.add_argument("--only")
    ap.add_argument("--min-runs", type=int, default=20)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--no-ort", action="store_true")
    a = ap.parse_args()
    a.out = os.path.abspath(a.out)
    a.ndlc = os.path.abspath(a.ndlc)
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    names = a.only.split(",") if a.only else list(CASES)
    for n in names:
        write_case(n, a.out)
        if CASES[n][3] is None:
            with open(os.path.join(a.out, n + ".ndl"), "w") as f:
                f.write(LIN_NDL % LIN_CASES[n])
    if not os.path.exists(os.path.join(a.out, "noop.onnx")):
        models.write_noop(os.path.join(a.out, "noop.onnx"))
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest(names), f, indent=1)

    ort = None if a.no_ort else bench.Server("ort.js", [
        "node", os.path.join(HERE, "ort.js"), "--serve", "--dir", a.out, "--threads", "1",
        "--min-runs", str(a.min_runs), "--min-time", str(a.min_time)], bench.base_env(1))
    rows, sizes = [], []
    try:
        for n in names:
            ndl = CASES[n][3] or os.path.join(a.out, n + ".ndl")
            sp = compile_variant(a, n, ndl, [], "sparse")
            if n in DENSE_MODEL:
                de = compile_variant(a, n, ndl, [], "dense", os.path.join(a.out, n + ".dense.safetensors"))
            else:
                de = compile_variant(a, n, ndl, ["--sparse", "off"], "dense")
            macs = (sp[3]["total"]["macs"], de[3]["total"]["macs"])
            layers = [(l.get("layer"), l["format"], round(l["density"], 3)) for l in sp[3]["sparsity"]["layers"]]
            sizes.append((n, sp[1], de[1], sp[2], de[2], layers))
            for c in manifest([n])["models"][0]["cases"]:
                t = {"sparse": [], "dense": [], "ort": []}
                for rnd in range(a.rounds):
                    t["sparse"].append(bench.time_ndlc(a, sp[0], {"name": n + ".sparse"}, c, 1, rnd == 0))
                    t["dense"].append(bench.time_ndlc(a, de[0], {"name": n + ".dense"}, c, 1, rnd == 0))
                    if ort:
                        t["ort"].append(ort.ask(model=n, batch=c["batch"], threads=1, raw="auto",
                                                outputs=rnd == 0))
                row = {k: bench.combine(v) for k, v in t.items() if v}
                for k in ("sparse", "dense"):  # the minimum over every timed run of the rounds
                    mins = [float(x) for r in t[k] for x in re.findall(r"min_ms=([0-9.]+)", r.get("repeat_output", ""))]
                    if k in row and mins:
                        row[k]["min_ms"] = min(mins)
                row.update(model=n, batch=c["batch"], macs=macs)
                for k in ("sparse", "dense", "ort"):
                    if k == "dense" and n in DENSE_MODEL:
                        continue  # another model: PyTorch's reference is the pruned one
                    if k in row:
                        row["check_" + k] = bench.check(a, c["ref"], row[k].get("out"))
                bench.log("%s b%d: sparse %s ms, dense %s ms, ORT %s ms" % (
                    n, c["batch"], *(bench.fmt_ms(row.get(k, {}).get("median_ms")) for k in ("sparse", "dense", "ort"))))
                rows.append(row)
    finally:
        if ort:
            ort.close()

    def ms(r, k, what="median_ms"):
        return (r.get(k) or {}).get(what)

    lines = ["| model | batch | ndlc sparse ms (median / min) | ndlc dense ms (median / min) | ORT ms "
             "| dense/sparse (min) | ORT/sparse (median) | MACs sparse/dense | time/MAC ratio (min) | checks |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s, d, o = ms(r, "sparse", "min_ms"), ms(r, "dense", "min_ms"), ms(r, "ort")
        checks = ", ".join("%s %s" % (k, bench.short_check(r.get("check_" + k)))
                           for k in ("sparse", "dense", "ort") if "check_" + k in r)
        mac = r["macs"][0] / r["macs"][1] if r["macs"][1] else None
        lines.append("| %s | %d | %s / %s | %s / %s | %s | %s | %s | %s | %s | %s |" % (
            r["model"], r["batch"], bench.fmt_ms(ms(r, "sparse")), bench.fmt_ms(s),
            bench.fmt_ms(ms(r, "dense")), bench.fmt_ms(d), bench.fmt_ms(o),
            "%.2f" % (d / s) if s and d else "-",
            "%.2f" % (o / ms(r, "sparse")) if ms(r, "sparse") and o else "-",
            "%.3f" % mac if mac else "-", "%.2f" % (s / d / mac) if s and d and mac else "-", checks))
    lines += ["", "| model | exe sparse | exe dense | ratio | weights file sparse | dense | ratio | layers (format, density) |",
              "|---|---|---|---|---|---|---|---|"]
    for n, es, ed, ws, wd, layers in sizes:
        lines.append("| %s | %d | %d | %.3f | %s | %s | %s | %s |" % (
            n, es, ed, es / ed, ws, wd, "%.3f" % (ws / wd) if ws and wd else "-",
            "; ".join("%s %s %.3f" % l for l in layers)))
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"rows": rows, "sizes": sizes}, f, indent=1, default=str)
    bad = [r for r in rows for k in ("sparse", "dense", "ort")
           if r.get("check_" + k) and not r["check_" + k].startswith("ok")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
