# SPDX-License-Identifier: MIT
"""onnx_cases.py - PyTorch models exported with torch.onnx.export for the ONNX importer.

For each case writes tests/onnx/<stem>.onnx, <stem>.in.safetensors (the inputs, named as
the ONNX graph inputs) and <stem>.out.safetensors (PyTorch's outputs, named as the graph
outputs). tests/onnx/run_onnx.sh imports each model, runs it and compares.

    /usr/bin/python3 tests/reference/onnx_cases.py [STEM...]
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "onnx")
CASES = {}


def case(stem):
    def deco(fn):
        CASES[stem] = fn
        return fn
    return deco


def randomize(model, seed):
    """Non-trivial BatchNorm statistics (eval mode uses them) and weights."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
            if m.weight is not None:
                m.weight.data = 1 + 0.2 * torch.randn(m.weight.shape, generator=g)
                m.bias.data = 0.2 * torch.randn(m.bias.shape, generator=g)
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean = 0.2 * torch.randn(m.running_mean.shape, generator=g)
            m.running_var = 0.5 + torch.rand(m.running_var.shape, generator=g)
    return model.eval()


def export(stem, model, inputs, opset, dynamic_batch=False, doc=""):
    names = [f"x{i}" if len(inputs) > 1 else "x" for i in range(len(inputs))]
    with torch.no_grad():
        outs = model(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    onames = [f"y{i}" if len(outs) > 1 else "y" for i in range(len(outs))]
    axes = {n: {0: "N"} for n in names + onames} if dynamic_batch else None
    path = os.path.join(OUT, stem + ".onnx")
    torch.onnx.export(model, tuple(inputs), path, opset_version=opset, input_names=names,
                      output_names=onames, dynamic_axes=axes, do_constant_folding=True)
    st.save(os.path.join(OUT, stem + ".in.safetensors"), {n: t.numpy() for n, t in zip(names, inputs)})
    st.save(os.path.join(OUT, stem + ".out.safetensors"), {n: t.numpy() for n, t in zip(onames, outs)})
    print(f"{stem}: opset {opset}, {os.path.getsize(path)} bytes: {doc}")


# ---- MLPs ----------------------------------------------------------------------------------

@case("mlp")
def mlp():
    torch.manual_seed(1)
    m = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.Sigmoid(), nn.Linear(32, 10))
    export("mlp", m.eval(), [torch.randn(3, 16)], 13, dynamic_batch=True,
           doc="Gemm + Relu/Sigmoid, symbolic batch")


class TokenMlp(nn.Module):
    """Linear on 3-D input (MatMul + Add), exact GELU (Erf pattern), tanh, softmax."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 24)
        self.fc2 = nn.Linear(24, 16, bias=False)
        self.fc3 = nn.Linear(16, 6)

    def forward(self, x):
        h = F.gelu(self.fc1(x))
        h = torch.tanh(self.fc2(h)) * 2.0 - 0.5
        return F.softmax(self.fc3(h), dim=-1)


@case("token_mlp")
def token_mlp():
    torch.manual_seed(2)
    export("token_mlp", TokenMlp().eval(), [torch.randn(2, 5, 16)], 15,
           doc="MatMul+Add -> linear, Erf GELU -> gelu, scalar arithmetic, Softmax")


# ---- CNN -----------------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (self.down(x) if self.down is not None else x))


class ResNetish(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 1, 1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.b1 = Block(8, 8, 1)
        self.b2 = Block(8, 16, 2)
        self.post = nn.BatchNorm2d(16)      # after an Add: stays a BatchNormalization
        self.avg = nn.AvgPool2d(3, 1, 1)
        self.dw = nn.Conv2d(16, 16, 3, 1, 1, groups=16)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        h = self.pool(F.relu(self.bn(self.stem(x))))
        h = self.b2(self.b1(h))
        h = F.relu6(self.dw(self.avg(self.post(h))))
        h = F.adaptive_avg_pool2d(h, 1)
        return self.fc(torch.flatten(h, 1))


@case("resnet")
def resnet():
    torch.manual_seed(3)
    m = randomize(ResNetish(), 3)
    export("resnet", m, [torch.randn(2, 3, 16, 16)], 13, dynamic_batch=True,
           doc="Conv/BN/MaxPool/AveragePool/GlobalAveragePool/Flatten/Add/Clip, residual blocks")


# ---- transformers ----------------------------------------------------------------------------

class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q = q.reshape(b, t, self.h, d // self.h).transpose(1, 2)
        k = k.reshape(b, t, self.h, d // self.h).transpose(1, 2)
        v = v.reshape(b, t, self.h, d // self.h).transpose(1, 2)
        a = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.h)
        o = F.softmax(a, dim=-1) @ v
        return self.proj(o.transpose(1, 2).reshape(b, t, d))


class PreLNBlock(nn.Module):
    def __init__(self, d, heads, hidden):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


@case("block13")
def block13():
    torch.manual_seed(4)
    m = randomize(PreLNBlock(32, 4, 64), 4)
    export("block13", m, [torch.randn(2, 8, 32)], 13,
           doc="pre-LN transformer block, decomposed LayerNorm, Split, attention pattern")


@case("block17")
def block17():
    torch.manual_seed(5)
    m = randomize(PreLNBlock(32, 2, 48), 5)
    export("block17", m, [torch.randn(1, 6, 32)], 17,
           doc="pre-LN transformer block with LayerNormalization (opset 17)")


class TinyViT(nn.Module):
    def __init__(self, d=32, patch=4, img=16, depth=2, classes=7):
        super().__init__()
        self.embed = nn.Conv2d(3, d, patch, patch)
        n = (img // patch) ** 2
        self.cls = nn.Parameter(0.1 * torch.randn(1, 1, d))
        self.pos = nn.Parameter(0.1 * torch.randn(1, n + 1, d))
        self.blocks = nn.ModuleList([PreLNBlock(d, 4, 2 * d) for _ in range(depth)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        h = self.embed(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1) + self.pos
        for b in self.blocks:
            h = b(h)
        return self.head(self.ln(h)[:, 0])


@case("vit")
def vit():
    torch.manual_seed(6)
    m = randomize(TinyViT(), 6)
    export("vit", m, [torch.randn(2, 3, 16, 16)], 14,
           doc="tiny vision transformer: patch conv, cls token, 2 blocks, Gather of the cls row")


class MhaBlock(nn.Module):
    """nn.MultiheadAttention with a causal float mask and a symbolic batch: torch writes the
    head split as Shape/Gather/Mul/Concat arithmetic on N."""

    def __init__(self, d=16, heads=2, t=6):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.register_buffer("causal", torch.triu(torch.full((t, t), float("-inf")), diagonal=1), persistent=False)
        self.fc = nn.Linear(d, d)

    def forward(self, x):
        h = self.ln(x)
        x = x + self.attn(h, h, h, attn_mask=self.causal, need_weights=False)[0]
        return x + F.gelu(self.fc(x))


@case("mha")
def mha():
    torch.manual_seed(7)
    m = randomize(MhaBlock(), 7)
    export("mha", m, [torch.randn(3, 6, 16)], 17, dynamic_batch=True,
           doc="nn.MultiheadAttention, causal mask, symbolic batch (shape arithmetic on N)")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for stem in sys.argv[1:] or CASES:
        CASES[stem]()
