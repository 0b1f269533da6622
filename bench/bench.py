#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench.py - times every benchmark case in ONNX Runtime, PyTorch and ndlc's executable and
prints the table. Called by bench/run.sh (which first installs ORT, writes the model files and
builds ndlc); run it directly only after that.

    /usr/bin/python3 bench/bench.py --ndlc build-bench/ndlc [--threads 1] [--only mlp,cnn]
        [--min-runs 20] [--min-time 1.0] [--rounds 1] [--out bench/out] [--no-torch] [--no-ort]

Per case, back to back (so that all three see the same machine load): ORT (bench/ort.js
--serve), ndlc's executable (`./MODEL IN OUT --repeat R`, its own timing statistics), PyTorch
(bench/torch_time.py --serve). Each is warmed up and then timed over >= --min-runs calls and
>= --min-time seconds; the table shows medians. ndlc's and ORT's outputs are checked against
PyTorch's with |a - b| <= 1e-4 + 1e-4*|b| (spec section 5). --rounds R repeats that R times
per case and reports the median of the per-round medians (for a busy machine).

--threads 1 (default): every case, results in OUT/results.md.
--threads N > 1: the large-batch case of each model only (64, or 16 for the CNN): ORT with
N intra-op threads, PyTorch with N threads, ndlc compiled with `--threads N` (OMP_NUM_THREADS=N);
results in OUT/results-threadsN.md.
OUT/results*.json hold every raw number.
"""
import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
PY = sys.executable


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- the two timing servers -------------------------------------------------------------------
class Server:
    """A child process that answers one JSON line per JSON request line."""

    def __init__(self, name, argv, env):
        self.name = name
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=env, text=True, bufsize=1)

    def ask(self, **q):
        try:
            self.p.stdin.write(json.dumps(q) + "\n")
            self.p.stdin.flush()
            line = self.p.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            return dict(kind="error", error="%s exited (status %s)" % (self.name, self.p.poll()))
        return json.loads(line)

    def close(self):
        try:
            self.p.stdin.write(json.dumps({"quit": True}) + "\n")
            self.p.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()


def base_env(threads):
    """The environment of every timed process. OpenBLAS (PyTorch's BLAS here) ignores
    torch.set_num_threads, and its core detection picks a slow kernel on this CPU: SkylakeX
    is about 2x faster than the Haswell kernel an inherited OPENBLAS_CORETYPE may ask for,
    so it is forced (BENCH_OPENBLAS_CORETYPE overrides)."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               OPENBLAS_CORETYPE=os.environ.get("BENCH_OPENBLAS_CORETYPE", "SkylakeX"),
               MKL_NUM_THREADS=str(threads))
    return env


# ---- ndlc -------------------------------------------------------------------------------------
UNIT = {"ns": 1e-6, "us": 1e-3, "\u00b5s": 1e-3, "\u03bcs": 1e-3, "ms": 1.0, "s": 1e3}
NUM = r"([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"
UNIT_RE = r"(ns|us|\u00b5s|\u03bcs|ms|s)\b"


def parse_repeat(text):
    """The median time in ms from the executable's --repeat statistics, or None.
    The spec fixes no format, so this accepts 'median 1.23 ms', 'median=1.23ms',
    'median: 12.3 us', 'time (ms): min 1.1 median 1.2 ...', and JSON {"median_ms": 1.2}."""
    for line in text.splitlines():
        m = re.search(r'"?median_(ns|us|ms|s)"?\s*[:=]\s*' + NUM, line, re.I)
        if m:
            return float(m.group(2)) * UNIT[m.group(1).lower()]
        m = re.search(r"median\w*\s*[:=]?\s*" + NUM + r"\s*(?:" + UNIT_RE + ")?", line, re.I)
        if m:
            unit = m.group(2)
            if unit is None:   # a unit elsewhere on the line: "time (ms): ... median 1.2"
                u = re.search(r"[\(\[ ]" + UNIT_RE, line)
                unit = u.group(1) if u else "ms"
            return float(m.group(1)) * UNIT[unit]
    return None


def newer(target, *sources):
    if not os.path.exists(target):
        return False
    t = os.path.getmtime(target)
    return all(os.path.getmtime(s) <= t for s in sources if os.path.exists(s))


def compile_ndlc(a, m, threads, onnx=False, backend="c"):
    """Compiles bench/models/M.ndl (onnx: OUT/M.onnx, the ONNX import path) to an executable
    with --backend BACKEND; returns (path or None, status, seconds)."""
    exe = os.path.join(a.out, m["name"] + (".onnx-exe" if onnx else "") +
                       ("" if threads == 1 else ".t%d" % threads) +
                       ("" if backend == "c" else "." + backend))
    ndl = os.path.join(ROOT, m["ndl"])
    weights = os.path.join(a.out, m["weights"])
    model = os.path.join(a.out, m["name"] + ".onnx")
    if newer(exe, a.ndlc, *([model] if onnx else [ndl, weights])):
        return exe, "ok (cached)", None
    argv = ([a.ndlc, model] if onnx else [a.ndlc, ndl, "--weights", weights]) + \
        ["-o", exe, "--report", exe + ".report.json"]
    if threads > 1:
        argv += ["--threads", str(threads)]
    if backend != "c":
        argv += ["--backend", backend]
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode == 0 and os.access(exe, os.X_OK):
        return exe, "ok", dt
    err = (r.stderr or r.stdout).strip()
    first = err.splitlines()[0] if err else "exit %d" % r.returncode
    if re.search(r"not supported|not available|not (built|implemented) yet|unknown option|"
                 r"unrecognized option", err) or r.returncode == 2:
        status = "not available"   # the --emit exe path (or --threads) is not there yet
    else:
        status = "compile failed"
    log("ndlc %s: %s: %s" % (" ".join(argv[1:]), status, first))
    return None, "%s: %s" % (status, first), dt


def report_memory(exe):
    """(parameter bytes, {key: bytes} of the memory plan) from ndlc's --report JSON: every
    integer field whose key names a workspace or an arena, wherever it is (the report's
    layout is ndlc's, not fixed by the spec)."""
    try:
        with open(exe + ".report.json") as f:
            rep = json.load(f)
    except (OSError, ValueError):
        return None, {}
    found = {}

    def walk(o, where):
        if isinstance(o, dict):
            for k, v in o.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and \
                        re.search(r"workspace|arena", k, re.I):
                    found[(where + "." + k).lstrip(".")] = v
                walk(v, where + "." + k)
        elif isinstance(o, list):
            for i, v in enumerate(o[:64]):
                walk(v, "%s[%d]" % (where, i))
    walk(rep, "")
    total = rep.get("total", {}) if isinstance(rep, dict) else {}
    return total.get("parameter_bytes"), found


GNU_TIME = "/usr/bin/time"


def run_exe(argv, env):
    """Runs argv; returns (exit status, stdout+stderr, peak RSS in MiB or None).
    The peak RSS comes from GNU time (`-f %M`), which forks the program from a small process:
    os.wait4's ru_maxrss would include this Python process's RSS at the fork, because Linux
    carries the pre-exec high-water mark over the exec."""
    rss_file = None
    if os.access(GNU_TIME, os.X_OK):
        rss_file = os.path.join(os.path.dirname(os.path.abspath(argv[1])), ".maxrss.%d" % os.getpid())
        argv = [GNU_TIME, "-q", "-o", rss_file, "-f", "%M"] + argv
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    rss = None
    if rss_file:
        try:
            with open(rss_file) as f:
                rss = int(f.read().split()[-1]) / 1024.0
        except (OSError, ValueError, IndexError):
            pass
        if os.path.exists(rss_file):
            os.remove(rss_file)
    return r.returncode, r.stdout.decode("utf-8", "replace"), rss


def time_ndlc(a, exe, m, c, threads, check_run=True, tag="ndlc"):
    env = base_env(threads)
    inp = os.path.join(a.out, c["input"])
    out = os.path.join(a.out, "%s.b%d.%s%d.safetensors" % (m["name"], c["batch"], tag, threads))
    res = {}
    if check_run:
        if os.path.exists(out):
            os.remove(out)
        rc, text, rss = run_exe([exe, inp, out], env)    # a plain run: the output to check
        if rc != 0:
            return dict(status="run failed (exit %d): %s" % (rc, text.strip()[:200]))
        res = dict(out=os.path.basename(out), rss_mib=rss)
    rc, text, _ = run_exe([exe, inp, out + ".tmp", "--repeat", "3"], env)   # an estimate
    est = parse_repeat(text) if rc == 0 else None
    if rc != 0 or est is None:
        res["status"] = "--repeat failed" if rc else "--repeat output not understood"
        res["repeat_output"] = text.strip()[:500]
        return res
    n = max(a.min_runs, min(100000, int(math.ceil(a.min_time * 1000.0 / max(est, 1e-6)))))
    rc, text, _ = run_exe([exe, inp, out + ".tmp", "--repeat", str(n)], env)
    if os.path.exists(out + ".tmp"):
        os.remove(out + ".tmp")
    med = parse_repeat(text) if rc == 0 else None
    res.update(status="ok" if med is not None else "--repeat failed", median_ms=med, runs=n,
               repeat_output=text.strip()[-500:])
    return res


def combine(results):
    """One result from the rounds' results: the first round's fields, with median_ms (and
    raw_median_ms) the median of the rounds' medians and rounds_ms listing them."""
    ok = [r for r in results if r.get("median_ms") is not None]
    if not ok:
        return results[0] if results else {}
    out = dict(ok[0])
    for key in ("median_ms", "raw_median_ms"):
        vals = sorted(r[key] for r in ok if r.get(key) is not None)
        if vals:
            out[key] = statistics.median(vals)
    if len(results) > 1:
        out["rounds_ms"] = [r.get("median_ms") for r in results]
    return out


def check(a, ref, out):
    if not out or not os.path.exists(os.path.join(a.out, out)):
        return None
    r = subprocess.run([PY, os.path.join(HERE, "check.py"), os.path.join(a.out, ref),
                        os.path.join(a.out, out)], capture_output=True, text=True)
    return (r.stdout or r.stderr).strip()


# ---- the table --------------------------------------------------------------------------------
def fmt_ms(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    if v >= 0.1:
        return "%.3f" % v
    return "%.3g" % v    # 0.0124, 0.000246: three significant digits


def short_check(s):
    if s is None:
        return "-"
    return "ok" if s.startswith("ok") else "FAIL"


def table(rows, threads):
    head = ["model", "batch", "ORT ms", "PyTorch ms", "ndlc ms", "ndlc/ORT", "ndlc-llvm ms", "llvm/C",
            "check ndlc", "check llvm", "check ORT", "ndlc·onnx ms", "ndl/onnx", "check onnx"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for r in rows:
        o, t, n = r.get("ort") or {}, r.get("torch") or {}, r.get("ndlc") or {}
        ort_ms, nd_ms = o.get("median_ms"), n.get("median_ms")
        x = r.get("onnx") or {}   # ndlc's executable compiled from the .onnx (ndlc M.onnx)
        x_ms = x.get("median_ms")
        if nd_ms is not None:
            nd_cell = fmt_ms(nd_ms)
        else:
            st = n.get("status", "n/a")
            nd_cell = "n/a" if threads > 1 and st.startswith("not available") else \
                st.split(":")[0]
        ratio = "%.2fx" % (ort_ms / nd_ms) if ort_ms and nd_ms else "-"
        lv = r.get("llvm") or {}
        lv_ms = lv.get("median_ms")
        lv_cell = fmt_ms(lv_ms) if lv_ms is not None else lv.get("status", "n/a").split(":")[0]
        lv_ratio = "%.2fx" % (lv_ms / nd_ms) if lv_ms and nd_ms else "-"
        lines.append("| " + " | ".join([
            r["model"], str(r["batch"]), fmt_ms(ort_ms) if o.get("kind") == "ort" else "error",
            fmt_ms(t.get("median_ms")) if t.get("kind") == "torch" else
            ("-" if not t else "error"),
            nd_cell, ratio, lv_cell, lv_ratio, short_check(r.get("check_ndlc")),
            short_check(r.get("check_llvm")), short_check(r.get("check_ort")),
            fmt_ms(x_ms) if x_ms is not None else x.get("status", "-").split(":")[0],
            "%.2fx" % (nd_ms / x_ms) if nd_ms and x_ms else "-", short_check(r.get("check_onnx"))]) + " |")
    return "\n".join(lines)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            txt = f.read()
        cpu = re.search(r"model name\s*:\s*(.*)", txt).group(1)
        flags = re.search(r"flags\s*:\s*(.*)", txt).group(1).split()
        cpu += ", %d logical CPUs, %s" % (os.cpu_count(), "AVX-512" if "avx512f" in flags
                                          else ("AVX2" if "avx2" in flags else "no AVX2"))
    except (OSError, AttributeError):
        pass
    try:
        load = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "?"
    return cpu, load


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ndlc", default=None, help="the ndlc binary (none: ndlc column n/a)")
    ap.add_argument("--no-import", action="store_true",
                    help="skip the ndlc·onnx column (ndlc M.onnx, the ONNX import path)")
    ap.add_argument("--ndlc-status", default=None,
                    help="why there is no ndlc binary (printed in its column)")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only")
    ap.add_argument("--min-runs", type=int, default=20)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=1,
                    help="time each case R times in turn in the three runtimes; report the "
                         "median of the per-round medians")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-ort", action="store_true")
    a = ap.parse_args()
    a.out = os.path.abspath(a.out)
    with open(os.path.join(a.out, "manifest.json")) as f:
        man = json.load(f)
    only = a.only.split(",") if a.only else None
    T = a.threads

    ort = None if a.no_ort else Server("ort.js", [
        "node", os.path.join(HERE, "ort.js"), "--serve", "--dir", a.out, "--threads", str(T),
        "--min-runs", str(a.min_runs), "--min-time", str(a.min_time)], base_env(T))
    tor = None if a.no_torch else Server("torch_time.py", [
        PY, os.path.join(HERE, "torch_time.py"), "--serve", "--dir", a.out,
        "--threads", str(T), "--min-runs", str(a.min_runs), "--min-time", str(a.min_time)],
        base_env(T))
    cpu, load0 = machine()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    noop = ort.ask(noop=True, threads=T) if ort else None
    tnoop = tor.ask(noop=True, threads=T) if tor else None

    rows, compiled = [], {}
    try:
        for m in man["models"]:
            if only and m["name"] not in only:
                continue
            cases = m["cases"] if T == 1 else [max(m["cases"], key=lambda c: c["batch"])]
            if a.ndlc:
                exe, cst, cdt = compile_ndlc(a, m, T)
            else:
                exe, cst, cdt = None, a.ndlc_status or "not available", None
            compiled[m["name"]] = dict(status=cst, seconds=cdt)
            xexe, xst = (compile_ndlc(a, m, T, onnx=True)[:2] if a.ndlc and not a.no_import
                         else (None, "-"))
            # the LLVM backend's executable (single-threaded: rows with threads > 1 say n/a)
            exe_l, cst_l, cdt_l = compile_ndlc(a, m, 1, backend="llvm") if a.ndlc and T == 1 else \
                (None, "n/a" if a.ndlc else cst, None)
            compiled[m["name"] + " (llvm)"] = dict(status=cst_l, seconds=cdt_l)
            if exe:
                pb, plan = report_memory(exe)
                compiled[m["name"]].update(parameter_bytes=pb, plan=plan)
            for c in cases:
                row = dict(model=m["name"], batch=c["batch"], threads=T)
                log("bench: %s b%d (%d thread%s)" % (m["name"], c["batch"], T, "s"[:T > 1]))
                # --rounds R: the three runtimes in turn, R times; each figure is then the
                # median over the rounds of the per-round medians (load bursts on a shared
                # machine hit one round, not the result)
                rounds = {"ort": [], "ndlc": [], "llvm": [], "torch": [], "onnx": []}
                for rnd in range(a.rounds):
                    if ort:
                        o = ort.ask(model=m["name"], batch=c["batch"], threads=T, raw="auto",
                                    outputs=rnd == 0)
                        if o.get("kind") == "error":
                            log("  ORT: " + o["error"])
                        rounds["ort"].append(o)
                    if exe and (rnd == 0 or rounds["ndlc"][0].get("median_ms") is not None):
                        rounds["ndlc"].append(time_ndlc(a, exe, m, c, T, check_run=rnd == 0))
                    if exe_l and (rnd == 0 or rounds["llvm"][0].get("median_ms") is not None):
                        rounds["llvm"].append(time_ndlc(a, exe_l, m, c, T, check_run=rnd == 0,
                                                        tag="llvm"))
                    if xexe and (rnd == 0 or rounds["onnx"][0].get("median_ms") is not None):
                        rounds["onnx"].append(time_ndlc(a, xexe, m, c, T, check_run=rnd == 0, tag="onnx"))
                    if tor:
                        t_ = tor.ask(model=m["name"], batch=c["batch"], threads=T)
                        if t_.get("kind") == "error":
                            log("  PyTorch: " + t_["error"])
                        rounds["torch"].append(t_)
                if ort:
                    row["ort"] = combine(rounds["ort"])
                    row["check_ort"] = check(a, c["ref"], rounds["ort"][0].get("out"))
                row["ndlc"] = combine(rounds["ndlc"]) if exe else dict(status=cst)
                row["check_ndlc"] = check(a, c["ref"], row["ndlc"].get("out"))
                row["llvm"] = combine(rounds["llvm"]) if exe_l else dict(status=cst_l)
                row["check_llvm"] = check(a, c["ref"], row["llvm"].get("out"))
                row["onnx"] = combine(rounds["onnx"]) if xexe else dict(status=xst)
                if xexe:
                    row["check_onnx"] = check(a, c["ref"], row["onnx"].get("out"))
                if tor:
                    row["torch"] = combine(rounds["torch"])
                for k in ("check_ort", "check_ndlc", "check_llvm", "check_onnx"):
                    if row.get(k) and not row[k].startswith("ok"):
                        log("  %s: %s" % (k, row[k]))
                log("  ORT %s ms, ndlc %s, PyTorch %s ms" % (
                    fmt_ms((row.get("ort") or {}).get("median_ms")),
                    fmt_ms(row["ndlc"].get("median_ms")) + " ms"
                    if row["ndlc"].get("median_ms") is not None else row["ndlc"]["status"],
                    fmt_ms((row.get("torch") or {}).get("median_ms"))))
                rows.append(row)
    finally:
        for s in (ort, tor):
            if s:
                s.close()
    _, load1 = machine()

    t = table(rows, T)
    notes = []
    if noop and noop.get("kind") == "noop":
        notes.append("ORT harness no-op call overhead (`await session.run()` of an Identity "
                     "model on f32[1,32], same loop, %d thread%s): median %.1f us per call; it "
                     "is inside every ORT time above. The same call through the native binding "
                     "under the public API (synchronous `binding.InferenceSession.run`, no "
                     "setImmediate/Promise): %.1f us." % (
                         T, "s"[:T > 1], noop["median_ms"] * 1e3,
                         noop.get("raw_median_ms", float("nan")) * 1e3))
    if tnoop and tnoop.get("kind") == "torch_noop":
        notes.append("PyTorch no-op (nn.Identity call): median %.2f us." %
                     (tnoop["median_ms"] * 1e3))
    # the benchmark itself keeps about T threads runnable; more than one other on average
    # means other processes took a share of the cores
    busy = [x for x in (load0, load1) if x != "?" and float(x.split()[0]) > T + 1.0]
    if busy:
        notes.insert(0, "**Warning: the machine was busy** (1-minute load average %s at start, "
                        "%s at end, %d logical CPUs): other processes shared the cores, so the "
                        "times are inflated and noisy; rerun on an idle machine." %
                     (load0.split()[0], load1.split()[0], os.cpu_count() or 0))
    if noop and noop.get("kind") == "noop":
        for r in rows:
            o = r.get("ort") or {}
            if o.get("median_ms") and o["median_ms"] < 20 * noop["median_ms"]:
                notes.append("%s b%d: ORT %.1f us of which %.1f us is the harness no-op overhead "
                             "(ORT minus no-op: %.1f us)." % (
                                 r["model"], r["batch"], o["median_ms"] * 1e3,
                                 noop["median_ms"] * 1e3,
                                 (o["median_ms"] - noop["median_ms"]) * 1e3))
    raw = ["%s b%d %s" % (r["model"], r["batch"], fmt_ms(r["ort"]["raw_median_ms"]))
           for r in rows if (r.get("ort") or {}).get("raw_median_ms")]
    if raw:
        notes.append("ORT ms through the synchronous native binding (rows under 1 ms): " +
                     ", ".join(raw) + ".")
    notes.append("ndlc ms: the executable's own `--repeat` median (in-process, no harness); "
                 "ndlc/ORT = ORT ms / ndlc ms (> 1: ndlc faster). ndlc-llvm ms: the same "
                 "model through `--backend llvm`; llvm/C = ndlc-llvm ms / ndlc ms (< 1: the "
                 "LLVM backend faster).")
    cst = sorted({v["status"].split(":")[0] for v in compiled.values()})
    notes.append("ndlc compile: " + ", ".join("%s %s%s" % (k, v["status"].split(":")[0],
                                                           " %.1f s" % v["seconds"]
                                                           if v.get("seconds") else "")
                                             for k, v in compiled.items()))
    rss = ["%s b%d %.1f" % (r["model"], r["batch"], r["ndlc"]["rss_mib"]) for r in rows
           if r["ndlc"].get("rss_mib")]
    if rss:
        notes.append("ndlc executable peak RSS, MiB (whole process incl. embedded weights, "
                     "input/output files and the driver, one plain run): " + ", ".join(rss))
    mem = []
    for name, v in compiled.items():
        if v.get("parameter_bytes") or v.get("plan"):
            mem.append("%s: parameters %.2f MiB%s" % (
                name, (v.get("parameter_bytes") or 0) / 2.0 ** 20,
                "".join(", %s %s B" % (k, val) for k, val in sorted(v["plan"].items()))))
    if mem:
        notes.append("ndlc --report: " + "; ".join(mem))
    ver = []
    if noop and noop.get("ort_version"):
        ver.append("onnxruntime-node %s" % noop["ort_version"])
    if tnoop and tnoop.get("torch_version"):
        ver.append("PyTorch %s (Debian, OpenBLAS, OPENBLAS_CORETYPE=%s)" %
                   (tnoop["torch_version"], base_env(T)["OPENBLAS_CORETYPE"]))
    title = "ndlc benchmark, %d thread%s%s" % (T, "s"[:T > 1],
                                              "" if T == 1 else " (large-batch rows)")
    md = "\n".join([
        "# " + title, "",
        "%s; %s; load average %s at start, %s at end; %s; medians of >= %d runs and >= %.1f s "
        "after warm-up%s." % (started, cpu, load0, load1, ", ".join(ver), a.min_runs, a.min_time,
                              "" if a.rounds == 1 else
                              ", median over %d rounds of the per-round medians" % a.rounds),
        "", t, ""] + ["- " + n for n in notes]) + "\n"
    name = "results.md" if T == 1 else "results-threads%d.md" % T
    with open(os.path.join(a.out, name), "w") as f:
        f.write(md)
    with open(os.path.join(a.out, name[:-3] + ".json"), "w") as f:
        json.dump(dict(started=started, cpu=cpu, load=[load0, load1], noop=noop,
                       torch_noop=tnoop, compile=compiled, rows=rows), f, indent=1)
    print(md)
    print("(written to %s)" % os.path.join(a.out, name))
    bad = [r for r in rows for k in ("check_ort", "check_ndlc", "check_llvm", "check_onnx")
           if r.get(k) and not r[k].startswith("ok")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
