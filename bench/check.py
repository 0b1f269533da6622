#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""check.py - compares output safetensors files with PyTorch's, spec section 5 tolerance.

    /usr/bin/python3 bench/check.py REF.safetensors OUT.safetensors [--atol 1e-4 --rtol 1e-4]

Every tensor of REF must be in OUT with the same shape, and |out - ref| <= atol + rtol*|ref|
elementwise. Prints one line: "ok max_abs=... worst_ratio=..." or "FAIL <why>"; exit 0 / 1.
(worst_ratio is max |out-ref| / (atol + rtol*|ref|): <= 1 passes.)
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import numpy as np  # noqa: E402

import st  # noqa: E402


def compare(ref_path, out_path, atol, rtol):
    ref, out = st.load(ref_path), st.load(out_path)
    worst, max_abs = 0.0, 0.0
    for name, (_, r) in sorted(ref.items()):
        if name not in out:
            return False, "FAIL %s: no tensor %r" % (out_path, name)
        o = out[name][1]
        if tuple(o.shape) != tuple(r.shape):
            return False, "FAIL %s: %r has shape %s, want %s" % (out_path, name,
                                                                 list(o.shape), list(r.shape))
        r64, o64 = r.astype(np.float64), o.astype(np.float64)
        if not np.isfinite(o64).all():
            return False, "FAIL %s: %r has non-finite values" % (out_path, name)
        err = np.abs(o64 - r64)
        ratio = err / (atol + rtol * np.abs(r64))
        max_abs = max(max_abs, float(err.max(initial=0.0)))
        worst = max(worst, float(ratio.max(initial=0.0)))
    msg = "max_abs=%.3g worst_ratio=%.3g" % (max_abs, worst)
    return worst <= 1.0, ("ok " if worst <= 1.0 else "FAIL ") + msg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ref")
    ap.add_argument("out")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=1e-4)
    a = ap.parse_args()
    try:
        ok, msg = compare(a.ref, a.out, a.atol, a.rtol)
    except (OSError, ValueError, KeyError) as e:
        ok, msg = False, "FAIL %s" % e
    print(msg)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
