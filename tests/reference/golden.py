# SPDX-License-Identifier: MIT
"""golden.py - the case framework shared by ops_cases.py and model_cases.py.

A case is a function decorated with @case(folder, stem) that receives a Ctx (seeded
random generators, the same on every run and independent of other cases) and returns
a dict:
    ndl      the NDL source (without the generated header)
    inputs   {input name: numpy array}                   -> <stem>.in.safetensors
    outputs  {output name: torch tensor or numpy array}  -> <stem>.out.safetensors
    weights  {state_dict key: numpy array or st.BF16}    -> <stem>.w.safetensors (optional)
    doc      one line saying what the case checks
write_case() writes the four files, then reloads them and checks them against the NDL
text (input/output names, the `weights` statement) so a broken case fails loudly.
"""
import math
import os
import re
import zlib

import numpy as np
import torch

import st

CASES = []


def case(folder, stem, tol=None):
    """Registers a case; tol = (atol, rtol) adds a `# TOL:` line to the .ndl."""
    def deco(fn):
        CASES.append((folder, stem, tol, fn))
        return fn
    return deco


class Ctx:
    """Per-case deterministic random source (seeded from the stem)."""

    def __init__(self, stem):
        self.stem = stem
        self.seed = zlib.crc32(stem.encode("utf-8"))
        self.rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)

    def randn(self, *shape, scale=1.0, shift=0.0):
        return (self.rng.standard_normal(shape) * scale + shift).astype(np.float32)

    def uniform(self, lo, hi, *shape):
        return self.rng.uniform(lo, hi, shape).astype(np.float32)

    def away(self, *shape, lo=0.5, hi=2.0):
        """Random values with lo <= |x| <= hi and random sign (safe divisors)."""
        mag = self.rng.uniform(lo, hi, shape)
        sign = np.where(self.rng.random(shape) < 0.5, -1.0, 1.0)
        return (mag * sign).astype(np.float32)

    def distinct(self, *shape, gap=0.1):
        """Values that are pairwise at least `gap` apart (no near-ties for argmax)."""
        n = int(np.prod(shape))
        v = (self.rng.permutation(n) - n / 2) * gap
        return v.reshape(shape).astype(np.float32)

    def ints(self, lo, hi, *shape, dtype=np.int64):
        """Integers in lo .. hi-1."""
        return self.rng.integers(lo, hi, shape).astype(dtype)

    def off_integer(self, lo, hi, *shape):
        """Reals at least 0.05 away from any integer (casts to int are unambiguous)."""
        base = self.rng.integers(lo, hi, shape)
        return (base + self.rng.uniform(0.05, 0.95, shape)).astype(np.float32)


def T(a):
    """numpy -> torch (a copy, so goldens never alias inputs)."""
    if isinstance(a, st.BF16):
        return torch.from_numpy(a.widened().copy())
    return torch.from_numpy(np.array(a))


def ref_attention(q, k, v, causal=False, scale=None):
    """Spec section 5: softmax(q k^T * scale + mask) v; causal keeps key j <= query i."""
    d = q.shape[-1]
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    if causal:
        tq, tk = s.shape[-2], s.shape[-1]
        keep = torch.ones(tq, tk, dtype=torch.bool).tril()
        s = s.masked_fill(~keep, float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), v)


def ref_rms_norm(x, w=None, eps=1.1920929e-7):
    """Spec section 5: x * rsqrt(mean(x^2, last dim) + eps) * w."""
    y = x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + eps)
    return y if w is None else y * w


def fmix32(x):
    """MurmurHash3's 32-bit finalizer on a Python int, in uint32 arithmetic."""
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & 0xFFFFFFFF
    x ^= x >> 16
    return x


def ref_hashed(pool, shape, seed):
    """Spec section 8.3: W[i] = s(i) * pool[h(i) mod n] at row-major flat index i."""
    flat = np.asarray(pool, dtype=np.float32).reshape(-1)
    n = flat.size
    out = np.empty(int(np.prod(shape)), dtype=np.float32)
    for i in range(out.size):
        u = i & 0xFFFFFFFF
        h = fmix32(u ^ seed)
        s = -1.0 if (fmix32(u ^ seed ^ 0x9E3779B9) & 1) else 1.0
        out[i] = np.float32(s) * flat[h % n]
    return out.reshape(shape)


def ref_hash_route(ids, num, seed):
    """Spec section 8.4: fmix32(low32(id) ^ seed) mod E, as i64."""
    flat = [fmix32((int(i) & 0xFFFFFFFF) ^ seed) % num for i in np.asarray(ids).reshape(-1)]
    return np.array(flat, dtype=np.int64).reshape(np.asarray(ids).shape)


def state_dict_np(module):
    """A torch module's state_dict as numpy arrays (keys exactly PyTorch's)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def camel(stem):
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[_\-]", stem) if p)


def _to_np(v):
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    v = np.array(v)
    if v.dtype == np.float64:
        raise TypeError("golden outputs must be float32, got float64")
    return v


HEADER = ("# {stem}: {doc}\n"
          "# Generated by tests/reference/make_goldens.py (case '{stem}'); edit it there.\n")


def write_case(root, folder, stem, tol, fn):
    """Runs one case and writes <root>/<folder>/<stem>.{ndl,in,out,w}.safetensors."""
    ctx = Ctx(stem)
    r = fn(ctx)
    d = os.path.join(root, folder)
    ndl = HEADER.format(stem=stem, doc=r["doc"])
    if tol is not None:
        ndl += "# TOL: %g %g\n" % tol
    ndl += r["ndl"].strip("\n") + "\n"
    inputs = {k: np.array(v) for k, v in r["inputs"].items()}
    outputs = {k: _to_np(v) for k, v in r["outputs"].items()}
    weights = r.get("weights")

    # Consistency of the NDL text with the tensors (catches typos in cases).
    ndl_inputs = re.findall(r"^\s*input\s+(\w+)\s*:", ndl, re.M)
    ndl_outputs = re.findall(r"^\s*output\s+(\w+)", ndl, re.M)
    assert sorted(ndl_inputs) == sorted(inputs), (stem, ndl_inputs, list(inputs))
    assert sorted(ndl_outputs) == sorted(outputs), (stem, ndl_outputs, list(outputs))
    wname = "%s.w.safetensors" % stem
    has_stmt = ('weights "%s";' % wname) in ndl
    assert has_stmt == bool(weights), (stem, "weights statement vs weights dict")
    for k, v in outputs.items():
        if v.dtype.kind == "f":
            assert v.dtype == np.float32 and np.all(np.isfinite(v)), (stem, k)

    with open(os.path.join(d, stem + ".ndl"), "w") as f:
        f.write(ndl)
    st.save(os.path.join(d, stem + ".in.safetensors"), inputs)
    st.save(os.path.join(d, stem + ".out.safetensors"), outputs)
    if weights:
        st.save(os.path.join(d, wname), weights)

    # Reload and compare byte for byte with what was meant to be written.
    for suffix, tensors in (("in", inputs), ("out", outputs), ("w", weights or {})):
        if not tensors:
            continue
        back = st.load(os.path.join(d, "%s.%s.safetensors" % (stem, suffix)))
        assert sorted(back) == sorted(tensors), (stem, suffix)
        for k, v in tensors.items():
            want = v.widened() if isinstance(v, st.BF16) else np.asarray(v)
            got = back[k][1]
            assert got.shape == want.shape and got.dtype == want.dtype, (stem, suffix, k)
            assert np.array_equal(got, want), (stem, suffix, k)
    return [os.path.join(folder, stem + s) for s in
            (".ndl", ".in.safetensors", ".out.safetensors") + ((".w.safetensors",)
                                                               if weights else ())]
