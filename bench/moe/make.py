#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make.py OUT [TOKENS] [--experts E] [--no-onnx] - the files of the MoE benchmark (issue 8) in OUT.

One MoE layer, T = TOKENS (default 64) tokens of d = 512, experts 512 -> 2048 -> 512 with GELU, a linear
router, top-2 (Mixtral's renormalized weights), with E = 8 and E = 32 experts:
    moe<E>.safetensors        weights (gate.weight, experts.N.fc1/fc2.*)
    moe<E>.in.safetensors     x [64, 512]
    moe<E>.out.safetensors    PyTorch's output, each expert on its tokens (the reference)
    moe<E>.onnx               the layer as torch.onnx.export writes a MoE: every expert on
                              every token, masked by the gate matrix (dense)
--experts E writes only the files of E (8 or 32; both by default); --no-onnx skips the export
(bench/moe/gpu.sh: its 4096-token weights are made on the GPU machine, whose newer torch
need not export).
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "reference"))
import st  # noqa: E402

D, H, T, K = 512, 2048, 64, 2


class FFN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D, H)
        self.fc2 = nn.Linear(H, D)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Moe(nn.Module):
    def __init__(self, e):
        super().__init__()
        self.gate = nn.Linear(D, e, bias=False)
        self.experts = nn.ModuleList([FFN() for _ in range(e)])

    def gates(self, x):
        p = F.softmax(self.gate(x), dim=-1)
        w, idx = torch.topk(p, K, dim=-1)
        w = w / w.sum(-1, keepdim=True)
        return torch.zeros_like(p).scatter(1, idx, w)

    def sparse(self, x):
        """Each expert on its tokens (Hugging Face's Mixtral loop): the reference."""
        g = self.gates(x)
        y = torch.zeros_like(x)
        for e, ex in enumerate(self.experts):
            tok = torch.nonzero(g[:, e]).flatten()
            if len(tok):
                y.index_add_(0, tok, g[tok, e, None] * ex(x[tok]))
        return y

    def forward(self, x):
        """Dense, as exported graphs compute it: every expert on every token, masked."""
        g = self.gates(x)
        return sum(g[:, e:e + 1] * ex(x) for e, ex in enumerate(self.experts))


def main():
    global T
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("tokens", nargs="?", type=int, default=T)
    ap.add_argument("--experts", type=int, choices=(8, 32), action="append",
                    help="write only this E (repeatable; default: 8 and 32)")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    args = ap.parse_args()
    out, T = args.out, args.tokens
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(8)
    for e in (8, 32):
        # E = 8's files are the same with or without E = 32's: same seed, made first
        if args.experts and e not in args.experts:
            continue
        m = Moe(e).eval()
        x = torch.randn(T, D)
        with torch.no_grad():
            y = m.sparse(x)
            assert torch.allclose(y, m(x), atol=1e-4)
        st.save(os.path.join(out, "moe%d.safetensors" % e),
                {k: v.detach().numpy().copy() for k, v in m.state_dict().items()})
        st.save(os.path.join(out, "moe%d.in.safetensors" % e), {"x": x.numpy()})
        st.save(os.path.join(out, "moe%d.out.safetensors" % e), {"y": y.numpy()})
        if args.no_onnx:
            continue
        torch.onnx.export(m, (x,), os.path.join(out, "moe%d.onnx" % e), input_names=["x"],
                          output_names=["y"], opset_version=17)


if __name__ == "__main__":
    main()
