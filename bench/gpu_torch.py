#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""gpu_torch.py - times the bench/models.py models in PyTorch on CUDA (bench/gpu_models.sh's peer).

    python3 bench/gpu_torch.py --dir DIR --cases mlp:1,cnn:16 [--min-runs 100] [--min-time 0.5]
    python3 bench/gpu_torch.py --probe        # prints why CUDA PyTorch is unusable, exit 1; or exit 0
    (--device cpu runs the same on the CPU: a check of this script where there is no GPU)

Loads DIR/MODEL.safetensors and DIR/MODEL.b<B>.in.safetensors (bench/models.py --no-onnx writes
them), moves the model to the GPU in eval mode and, under torch.inference_mode(), times each case
(bench/torch_time.py's loop: warm-ups, then >= --min-runs calls and >= --min-time seconds) two ways:
    e2e: host tensor -> .cuda() -> model -> .cpu() (which waits), as the ndlc CUDA executable's
         --repeat times its run (inputs copied to the device, outputs back);
    dev: the input already on the GPU, model then torch.cuda.synchronize() (for information).
PyTorch's default math is kept (f32 matmuls in full f32; cuDNN convolutions may use TF32, which
`allow_tf32=` on the line reports). Prints one line per case:
    torch model=M batch=B e2e_median_ms=.. e2e_min_ms=.. dev_median_ms=.. dev_min_ms=.. max_abs_err=..
max_abs_err is against DIR/MODEL.b<B>.ref.safetensors (PyTorch's CPU output), for information.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def probe():
    """None when CUDA PyTorch can run the models, else the reason."""
    try:
        import numpy  # noqa: F401
        import torch
    except ImportError as e:
        return "no torch/numpy in %s (%s)" % (sys.executable, e)
    if not torch.cuda.is_available():
        return "torch %s has no usable CUDA device" % torch.__version__
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--dir")
    ap.add_argument("--cases", help="MODEL:BATCH,...")
    ap.add_argument("--min-runs", type=int, default=100)
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--device", default="cuda", help="cpu: a check of this script without a GPU")
    a = ap.parse_args()
    why = probe() if a.device == "cuda" else None
    if a.probe or why:
        print(why or "ok")
        return 1 if why else 0
    if not a.dir or not a.cases:
        ap.error("--dir and --cases are needed")

    import numpy as np
    import torch

    import models  # bench/models.py (puts tests/reference on sys.path)
    import st
    from torch_time import time_calls

    dev = torch.device(a.device)
    on_gpu = dev.type == "cuda"
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    print("torch %s on %s, allow_tf32: matmul=%s cudnn=%s" % (
        torch.__version__, torch.cuda.get_device_name(0) if on_gpu else a.device,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32), flush=True)
    nets = {}
    for case in a.cases.split(","):
        name, batch = case.split(":")
        if name not in nets:
            nets[name] = models.load(name, a.dir).to(dev)
        net = nets[name]
        f = models.files(name, int(batch))
        x = torch.from_numpy(st.load(os.path.join(a.dir, f["input"]))["x"][1].copy())
        ref = st.load(os.path.join(a.dir, f["ref"]))["y"][1]
        with torch.inference_mode():
            xd = x.to(dev)

            def device_only():
                net(xd)
                sync()

            err = float(np.max(np.abs(net(x.to(dev)).cpu().numpy() - ref)))
            e2e = time_calls(lambda: net(x.to(dev)).cpu(), a.min_runs, a.min_time)
            dvo = time_calls(device_only, a.min_runs, a.min_time)
        print("torch model=%s batch=%s e2e_median_ms=%.4f e2e_min_ms=%.4f dev_median_ms=%.4f "
              "dev_min_ms=%.4f max_abs_err=%.3g" % (name, batch, e2e["median_ms"], e2e["min_ms"],
                                                   dvo["median_ms"], dvo["min_ms"], err), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
