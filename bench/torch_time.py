#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""torch_time.py - times the benchmark models in PyTorch (eager, float32, CPU).

    /usr/bin/python3 bench/torch_time.py [--dir bench/out] [--threads 1] [--only mlp,cnn]
                                         [--batches 1,64] [--min-runs 20] [--min-time 1.0]
                                         [--serve]

Builds each model of bench/models.py, loads DIR/MODEL.safetensors (the weights every runtime
uses), and for each batch reads DIR/MODEL.b<B>.in.safetensors and, with
torch.set_num_threads(--threads) and torch.inference_mode(), runs warm-up calls (>= 3 and
>= 0.2 s), then times >= --min-runs calls and >= --min-time seconds, each call alone
(time.perf_counter_ns). Prints one JSON line per case:
{"kind": "torch", "model", "batch", "threads", "median_ms", "min_ms", "p90_ms", "runs"},
and first {"kind": "torch_noop", ...}: an nn.Identity call on a [1, 32] tensor (the
Python-call overhead a tiny model pays in PyTorch). --serve takes requests on stdin instead
(see serve()). Set OPENBLAS_CORETYPE=SkylakeX and OPENBLAS_NUM_THREADS=<threads> in the
environment (bench.py does): Debian's torch does its matmuls in OpenBLAS, which ignores
torch.set_num_threads and picks a slow generic kernel on this CPU without the first.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import models  # noqa: E402  (bench/models.py)
import st  # noqa: E402  (tests/reference/st.py, put on sys.path by models.py)


def time_calls(fn, min_runs, min_time):
    w0 = time.perf_counter()
    i = 0
    while i < 3 or time.perf_counter() - w0 < 0.2:
        fn()
        i += 1
    times = []
    t0 = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - t0 < min_time and len(times) < 100000):
        a = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - a) / 1e6)
    times.sort()
    return dict(median_ms=statistics.median(times), min_ms=times[0],
                p90_ms=times[min(len(times) - 1, int(0.9 * len(times)))], runs=len(times))


def find_case(man, model, batch):
    for m in man["models"]:
        if m["name"] == model:
            for c in m["cases"]:
                if c["batch"] == batch:
                    return m, c
    raise KeyError("no case %s b%s in manifest.json" % (model, batch))


class Timer:
    def __init__(self, a, man):
        self.a, self.man, self.nets = a, man, {}

    def noop(self, threads, min_runs, min_time):
        torch.set_num_threads(threads)
        ident, x = torch.nn.Identity().eval(), torch.zeros(1, 32)
        r = time_calls(lambda: ident(x), max(min_runs, 200), min(min_time, 0.5))
        return dict(kind="torch_noop", threads=threads, torch_version=torch.__version__, **r)

    def case(self, model, batch, threads, min_runs, min_time):
        torch.set_num_threads(threads)
        m, c = find_case(self.man, model, batch)
        if model not in self.nets:
            self.nets[model] = models.load(model, self.a.dir)
        net = self.nets[model]
        x = torch.from_numpy(st.load(os.path.join(self.a.dir, c["input"]))["x"][1].copy())
        r = time_calls(lambda: net(x), min_runs, min_time)
        return dict(kind="torch", model=model, batch=batch, threads=threads, **r)


def serve(t, a):
    """--serve: one JSON request per stdin line, one JSON answer per stdout line:
    {"noop": true, "threads": T} or {"model": M, "batch": B, "threads": T} (optional
    "min_runs", "min_time"); {"quit": true} ends. OpenBLAS (Debian's torch BLAS) takes its
    thread count from OPENBLAS_NUM_THREADS at start-up only: bench.py sets it."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            q = json.loads(line)
            if q.get("quit"):
                break
            threads = q.get("threads", a.threads)
            mr, mt = q.get("min_runs", a.min_runs), q.get("min_time", a.min_time)
            if q.get("noop"):
                ans = t.noop(threads, mr, mt)
            else:
                ans = t.case(q["model"], q["batch"], threads, mr, mt)
        except Exception as e:  # noqa: BLE001  (report it to the driver, keep serving)
            ans = dict(kind="error", error="%s: %s" % (type(e).__name__, e))
        print(json.dumps(ans), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=os.path.join(HERE, "out"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only")
    ap.add_argument("--batches")
    ap.add_argument("--min-runs", type=int, default=20)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--serve", action="store_true", help="take requests on stdin (see serve())")
    a = ap.parse_args()
    torch.set_num_interop_threads(1)
    with open(os.path.join(a.dir, "manifest.json")) as f:
        man = json.load(f)
    t = Timer(a, man)
    with torch.inference_mode():
        if a.serve:
            return serve(t, a)
        print(json.dumps(t.noop(a.threads, a.min_runs, a.min_time)), flush=True)
        only = a.only.split(",") if a.only else None
        batches = [int(b) for b in a.batches.split(",")] if a.batches else None
        for m in man["models"]:
            if only and m["name"] not in only:
                continue
            for c in m["cases"]:
                if batches and c["batch"] not in batches:
                    continue
                print(json.dumps(t.case(m["name"], c["batch"], a.threads, a.min_runs,
                                        a.min_time)), flush=True)


if __name__ == "__main__":
    main()
