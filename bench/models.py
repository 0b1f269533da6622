#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""models.py - the benchmark models in PyTorch, and the files every runtime needs.

Run with Debian's python3 (torch 1.13, numpy, onnx; the python3 first on PATH may lack them):
    /usr/bin/python3 bench/models.py [--out bench/out] [--only mlp,cnn] [--no-onnx]

For each model M of MODELS it writes into the output folder (default bench/out/):
    M.safetensors            weights, keys = PyTorch state_dict keys (what bench/models/M.ndl reads)
    M.onnx                   torch.onnx.export, opset 17, dynamic batch axis "N"
    M.b<B>.in.safetensors    the input "x" at each benchmark batch B
    M.b<B>.ref.safetensors   PyTorch's float32 eval-mode output "y" for it (the correctness reference)
and once:
    noop.onnx                y = Identity(x), x: f32[N, 32]: times the ORT harness' per-call overhead
    manifest.json            models, batches, file names (read by ort.js, torch_time.py and run.sh)
--no-onnx writes neither M.onnx nor noop.onnx (bench/gpu_models.sh on the GPU machine, whose
newer torch need not export). Everything is deterministic (fixed seeds); a file is rewritten only when --force is given or it
is missing. The NDL of each model is written by hand in bench/models/M.ndl and must compute the
same function as the PyTorch class below; the parameter paths are the state_dict keys.
"""
import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import st  # noqa: E402  (tests/reference/st.py: the team's safetensors writer/reader)


# ---- the models -------------------------------------------------------------------------------
class MLP(nn.Module):
    """784-1024-1024-10, ReLU (7.4 MB of weights)."""

    def __init__(self, d_in=784, hidden=1024, d_out=10):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, d_out)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class TinyMLP(nn.Module):
    """32-64-64-4, ReLU: the size that runs on a microcontroller."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, 64)
        self.fc3 = nn.Linear(64, 4)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BigLinear(nn.Module):
    """One 4096x4096 linear layer with bias (64 MiB of weights)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4096, 4096)

    def forward(self, x):
        return self.fc(x)


class BasicBlock(nn.Module):
    """ResNet basic block, identity shortcut."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(h)))


class DownBlock(nn.Module):
    """ResNet basic block with stride-2 downsampling and a 1x1 conv + BN shortcut (option B)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.sc_conv = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.sc_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.sc_bn(self.sc_conv(x)) + self.bn2(self.conv2(h)))


class ResNet14(nn.Module):
    """CIFAR ResNet-14 on 3x32x32: conv-BN-ReLU stem (16 ch), three stages of two basic blocks
    (16, 32, 64 channels; stages 2 and 3 start with a stride-2 block), global average pool,
    Linear(64, 10). About 27 M multiply-adds per image."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.layer1 = nn.ModuleList([BasicBlock(16) for _ in range(2)])
        self.layer2_down = DownBlock(16, 32)
        self.layer2 = BasicBlock(32)
        self.layer3_down = DownBlock(32, 64)
        self.layer3 = BasicBlock(64)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        h = F.relu(self.bn(self.stem(x)))
        for b in self.layer1:
            h = b(h)
        h = self.layer2(self.layer2_down(h))
        h = self.layer3(self.layer3_down(h))
        return self.fc(h.mean(dim=(2, 3)))


class FFN(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class TransformerBlock(nn.Module):
    """Pre-LN block: x + MHA(LN(x)) (causal), then + FFN(LN(.)) with exact GELU.
    d=256, 4 heads, FFN 1024, sequence length T=128 (fixed), batch_first."""

    def __init__(self, d=256, heads=4, hidden=1024, t=128):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.ffn = FFN(d, hidden)
        # causal mask as an additive float mask (-inf above the diagonal): key j <= query i.
        # A buffer that is not persistent, so the state_dict holds parameters only.
        mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        self.register_buffer("causal", mask, persistent=False)

    def forward(self, x):
        h = self.ln1(x)
        x1 = x + self.attn(h, h, h, attn_mask=self.causal, need_weights=False)[0]
        return x1 + self.ffn(self.ln2(x1))


# name -> (constructor, input shape without the batch, benchmark batches, what it is)
MODELS = {
    "mlp": (MLP, [784], [1, 64], "MLP 784-1024-1024-10, ReLU"),
    "cnn": (ResNet14, [3, 32, 32], [1, 16], "ResNet-14 (CIFAR, 16/32/64 ch) on 3x32x32"),
    "transformer": (TransformerBlock, [128, 256], [1, 64],
                    "pre-LN transformer block d=256 h=4 FFN 1024 T=128, causal"),
    "linear4096": (BigLinear, [4096], [1, 64], "Linear 4096x4096"),
    "tiny_mlp": (TinyMLP, [32], [1, 64], "MLP 32-64-64-4, ReLU"),
}
NOOP_SHAPE = [32]


def seed_of(name):
    return sum((i + 1) * ord(ch) for i, ch in enumerate(name)) % (2 ** 31)


def build(name):
    """The model `name` with its deterministic weights, in eval mode."""
    ctor = MODELS[name][0]
    torch.manual_seed(seed_of(name))
    m = ctor()
    gen = torch.Generator().manual_seed(seed_of(name) + 1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Linear, nn.Conv2d)):
                # He-normal weights and nonzero biases: activations stay O(1) through the
                # layers (PyTorch's default init shrinks them), so the 1e-4 absolute
                # tolerance of the correctness check is a tight relative one too
                # (gain 1 for convolutions: the residual sums would grow otherwise)
                fan_in = mod.weight[0].numel()
                gain = 1.0 if isinstance(mod, nn.Conv2d) else 2.0
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) *
                                 math.sqrt(gain / fan_in))
                if mod.bias is not None:
                    mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=gen))
            elif isinstance(mod, nn.BatchNorm2d):
                # non-trivial statistics so BatchNorm folding is really checked
                c = mod.num_features
                mod.weight.copy_(1.0 + 0.2 * torch.randn(c, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(c, generator=gen))
                mod.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                mod.running_var.copy_(0.5 + torch.rand(c, generator=gen))
            elif isinstance(mod, nn.LayerNorm):
                mod.weight.copy_(1.0 + 0.1 * torch.randn(mod.weight.shape, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=gen))
            elif isinstance(mod, nn.MultiheadAttention):
                mod.in_proj_bias.copy_(0.05 * torch.randn(mod.in_proj_bias.shape, generator=gen))
                mod.out_proj.bias.copy_(0.05 * torch.randn(mod.out_proj.bias.shape,
                                                           generator=gen))
    return m.eval()


def load(name, out_dir):
    """The model `name` with the weights of out_dir/name.safetensors (what every runtime reads)."""
    m = build(name)
    tensors = st.load(os.path.join(out_dir, name + ".safetensors"))
    sd = {k: torch.from_numpy(np.array(a)) for k, (_, a) in tensors.items()}
    m.load_state_dict(sd, strict=True)
    return m.eval()


def make_input(name, batch):
    shape = [batch] + MODELS[name][1]
    rng = np.random.default_rng(seed_of(name) * 1000 + batch)
    return rng.standard_normal(shape).astype(np.float32)


def files(name, batch=None):
    if batch is None:
        return {"weights": name + ".safetensors", "onnx": name + ".onnx"}
    return {"input": "%s.b%d.in.safetensors" % (name, batch),
            "ref": "%s.b%d.ref.safetensors" % (name, batch)}


def write_noop(path):
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + NOOP_SHAPE)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"] + NOOP_SHAPE)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "noop", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="ndlc-bench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def write_model(name, out_dir, force, onnx=True):
    _, in_shape, batches, _ = MODELS[name]
    f = files(name)
    wpath = os.path.join(out_dir, f["weights"])
    m = build(name)
    if force or not os.path.exists(wpath):
        sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}  # F32, I64 counters
        st.save(wpath, sd)
    m = load(name, out_dir)   # exactly the stored weights from here on
    opath = os.path.join(out_dir, f["onnx"])
    if onnx and (force or not os.path.exists(opath)):
        dummy = torch.from_numpy(make_input(name, 2))
        tmp = opath + ".tmp"
        torch.onnx.export(m, (dummy,), tmp, opset_version=17, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
                          do_constant_folding=True)
        import onnx
        onnx.checker.check_model(onnx.load(tmp))
        os.replace(tmp, opath)
    for b in batches:
        fb = files(name, b)
        ipath, rpath = os.path.join(out_dir, fb["input"]), os.path.join(out_dir, fb["ref"])
        if force or not (os.path.exists(ipath) and os.path.exists(rpath)):
            x = make_input(name, b)
            with torch.inference_mode():
                y = m(torch.from_numpy(x)).numpy().astype(np.float32)
            assert np.isfinite(y).all()
            st.save(ipath, {"x": x})
            st.save(rpath, {"y": y})


def manifest():
    out = {"noop": {"onnx": "noop.onnx", "shape": NOOP_SHAPE}, "models": []}
    for name, (_, in_shape, batches, doc) in MODELS.items():
        out["models"].append({
            "name": name, "doc": doc, "input_shape": in_shape, "batches": batches,
            "ndl": "bench/models/%s.ndl" % name, **files(name),
            "cases": [dict(batch=b, **files(name, b)) for b in batches]})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--only", help="comma-separated model names (default: all)")
    ap.add_argument("--force", action="store_true", help="rewrite files that exist")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX files")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    names = args.only.split(",") if args.only else list(MODELS)
    for n in names:
        if n not in MODELS:
            sys.exit("models.py: unknown model %r (have: %s)" % (n, ", ".join(MODELS)))
        write_model(n, args.out, args.force, onnx=not args.no_onnx)
        print("models.py: %s ok" % n, flush=True)
    if not args.no_onnx and (args.force or not os.path.exists(os.path.join(args.out, "noop.onnx"))):
        write_noop(os.path.join(args.out, "noop.onnx"))
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest(), f, indent=1)


if __name__ == "__main__":
    main()
