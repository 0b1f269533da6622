#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh - the --target cuda suite ON a machine with an NVIDIA GPU (sm_80+, CUDA toolkit
# with nvcc and a driver; no network needed). Self-contained and non-interactive:
#   1. finds or builds ndlc: $NDLC; build-gpu/ndlc (made by `run.sh --prepare` on a build
#      machine and carried over, with its build-gpu/lib); build/ndlc; else builds one with
#      cmake (LLVM and ONNX off) or, without cmake, with plain cc from the sources and the
#      generated grammar/embedding files of a carried build-gpu/ (or build/);
#   2. builds stcmp with cc;
#   3. every golden case (tests/*/<stem>.ndl with <stem>.out.safetensors) through
#      `--emit exe --target cuda`, run on the GPU and compared with stcmp at the spec
#      tolerance (run_golden.sh cuda-exe, and cuda-exe-ext for tests/models: --external-weights;
#      `# TOL:`/`# ARGS:` lines as everywhere), in
#      parallel; a pass/fail table and totals (cases the CUDA backend refuses with "not
#      supported on --target cuda yet" are listed as such and do not fail the suite; the
#      pruned and hashed goldens, tests/prune, sharing/roast_*, ops/hashed*, also counted apart);
#   4. every golden case through the PTX of the LLVM backend (`--emit exe --backend llvm
#      --target cuda`: the CUDA driver-API host runtime runtime/cuda/ptxrt.c), compared the
#      same way: the executables come from build-gpu/ptx/ (made by --prepare with an ndlc that
#      has LLVM, since the GPU machine's ndlc usually has none), else from this ndlc when it
#      can emit PTX; cases --emit ptx refuses are listed as unsupported;
#   5. the 4096^3 GEMM (tests/gpu/gemm_bench.cu over the generated code of y = matmul(a, b)):
#      3xTF32 (the default, f32-accurate) and plain TF32, TFLOP/s and % of the card's dense
#      TF32 peak, and cuBLAS TF32 in the same run when libcublas is there; then y = linear(a, w)
#      (w [4096, 4096]: B K-major) with the plain TF32 mma.sync kernel and, on a compute
#      capability 9.0 GPU, the Hopper wgmma kernels (-DNDLCU_GEMM_WGMMA, built for sm_90a:
#      the TMA one a linear runs, and the cp.async one forced with -DNDLCU_WG_NO_TMA), each
#      checked against its error bound, cuBLAS TF32 on the same shape beside them; and the
#      wgmma kernels on five edge shapes, every entry checked (wg_edges below);
#   6. bench/moe/gpu.sh: the 8-expert top-2 MoE layer at 4096 tokens against the same layer
#      computed densely (target dense/sparse >= 3; its check against PyTorch must pass);
#   7. bench/gpu_models.sh: the bench/ models, ndlc's CUDA executable against PyTorch CUDA
#      (skipped, with the reason, when python3 has no torch with CUDA).
#      --skip-bench leaves 6 and 7 out, --goldens-only 5, 6 and 7, --gemm-only all but 5;
#      --filter selects golden cases only.
# Dense TF32 peaks (NVIDIA datasheets list TF32 "with sparsity"; dense is half): H100 SXM5
# and H200 SXM 494.7 TFLOP/s (989.4 sparse), H100 PCIe 378 (756), H100 NVL and H200 NVL
# 417.5 (835); A100 156 (312). PEAK_TFLOPS=... overrides.
#
#   tests/gpu/run.sh [--jobs N] [--filter REGEX] [--skip-bench]   on the GPU machine (about 2-4 minutes,
#                                                   and about 3.5 more for the benchmarks)
#   tests/gpu/run.sh --prepare                       on a build machine: build-gpu/ to carry
#
# Results are also written to $OUT/gpu_results.txt when OUT is set. Exit status: 0 when
# every emitted golden passes and the GEMM and MoE checks pass, 1 otherwise, 2 usage.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
jobs=$(nproc 2>/dev/null || echo 4)
filter=.
prepare=0
bench=1
gemm=1
goldens=1
while [ $# -gt 0 ]; do
    case $1 in
    --prepare) prepare=1 ;;
    --jobs) jobs=$2; shift ;;
    --filter) filter=$2; shift ;;
    --skip-bench) bench=0 ;;
    --goldens-only) bench=0 gemm=0 ;;
    --gemm-only) bench=0 goldens=0 ;;
    *) echo "usage: tests/gpu/run.sh [--prepare] [--jobs N] [--filter REGEX] [--skip-bench] [--goldens-only] [--gemm-only]" >&2; exit 2 ;;
    esac
    shift
done
start=$(date +%s)
say() { echo "[run.sh $(( $(date +%s) - start ))s] $*"; }

# ---- ndlc -------------------------------------------------------------------------------
cmake_build() { # builds build-gpu/ndlc with cmake: no LLVM, no ONNX (fewer libraries to carry)
    gen=; command -v ninja > /dev/null 2>&1 && gen="-G Ninja"
    mkdir -p "$root/build-gpu"
    cmake -S "$root" -B "$root/build-gpu" $gen -DCMAKE_BUILD_TYPE=Release -DNDLC_WITH_LLVM=OFF \
        -DNDLC_WITH_ONNX=OFF > "$root/build-gpu/build.log" 2>&1 &&
        cmake --build "$root/build-gpu" --target ndlc stcmp -j "$jobs" >> "$root/build-gpu/build.log" 2>&1
}
if [ $prepare = 1 ]; then
    say "preparing build-gpu/ (ndlc without LLVM/ONNX, with libcjson and its header beside it)"
    cmake_build || { tail -n 20 "$root/build-gpu/build.log"; exit 1; }
    mkdir -p build-gpu/lib build-gpu/include/cjson
    lib=$(ldd build-gpu/ndlc | sed -n 's/.*libcjson[^ ]* => \([^ ]*\) .*/\1/p')
    [ -n "$lib" ] && cp -L "$lib" build-gpu/lib/ && ln -sf "$(basename "$lib")" build-gpu/lib/libcjson.so
    cp /usr/include/cjson/cJSON.h build-gpu/include/cjson/ 2>/dev/null
    # the PTX executables need LLVM to build but only libc and the driver to run
    llvm_ndlc=${NDLC:-$root/build/ndlc}
    mkdir -p build-gpu/ptx
    if [ -x "$llvm_ndlc" ]; then
        say "building the PTX executables of the goldens with $llvm_ndlc into build-gpu/ptx/"
        # in parallel: each build is one ndlc process (LLVM codegen and a cc link)
        printf '%s\n' tests/*/*.out.safetensors | NDLC_LLVM=$llvm_ndlc xargs -P "$jobs" -I{} sh -c 'set -f
            c=$(echo {} | sed "s/\.out\.safetensors\$/.ndl/")
            [ -f "$c" ] || exit 0
            key=$(echo "$c" | tr / _)
            args=$(sed -n "s/^# ARGS: //p" "$c" | head -n 1 | sed "s|{dir}|$(dirname "$c")|g")
            "$NDLC_LLVM" "$c" $args --emit exe --backend llvm --target cuda -o "build-gpu/ptx/$key" \
                2> "build-gpu/ptx/$key.err" && rm -f "build-gpu/ptx/$key.err"'
        say "PTX executables: $(ls build-gpu/ptx | grep -vc '\.err$'), refused or failed: $(ls build-gpu/ptx | grep -c '\.err$')"
    fi
    say "done: carry build-gpu/ndlc build-gpu/lib build-gpu/include build-gpu/grammar build-gpu/backends build-gpu/ptx"
    exit 0
fi

usable() { [ -n "$1" ] && [ -x "$1" ] && "$1" --version > /dev/null 2>&1; }
export LD_LIBRARY_PATH="$root/build-gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ndlc=
for c in "${NDLC:-}" "$root/build-gpu/ndlc" "$root/build/ndlc"; do
    if usable "$c"; then ndlc=$c; break; fi
done
if [ -z "$ndlc" ] && command -v cmake > /dev/null 2>&1 && command -v bison > /dev/null 2>&1; then
    say "building ndlc with cmake into build-gpu/ (log: build-gpu/build.log)"
    cmake_build && usable "$root/build-gpu/ndlc" && ndlc=$root/build-gpu/ndlc
fi
if [ -z "$ndlc" ]; then
    gen=
    for d in build-gpu build; do
        [ -f "$d/grammar/parser.c" ] && [ -f "$d/backends/embedded_files.c" ] && { gen=$d; break; }
    done
    if [ -n "$gen" ]; then
        say "building ndlc with plain cc from the sources and $gen/'s generated files"
        mkdir -p build-gpu/cc
        srcs=$(ls ir/*.c passes/*.c runtime/*.c runtime/kernels/*.c backends/*.c backends/c/*.c backends/cuda/*.c \
               backends/llvm/none.c frontend/*.c frontend/onnx/disabled.c grammar/*.c | grep -v '^frontend/main.c$')
        # shellcheck disable=SC2086
        if cc -std=c11 -O2 -I. -I"$gen/grammar" -Ibuild-gpu/include -DNDLC_VERSION='"gpu"' -o build-gpu/cc/ndlc \
            frontend/main.c $srcs "$gen/grammar/parser.c" "$gen/grammar/lexer.c" "$gen/backends/embedded_files.c" \
            -Lbuild-gpu/lib -lcjson -lm > build-gpu/cc/log 2>&1 && usable build-gpu/cc/ndlc; then
            ndlc=$root/build-gpu/cc/ndlc
        else
            tail -n 20 build-gpu/cc/log
        fi
    fi
fi
if [ -z "$ndlc" ]; then
    echo "run.sh: no usable ndlc: run 'tests/gpu/run.sh --prepare' on a build machine and carry build-gpu/" >&2
    exit 1
fi
say "ndlc: $ndlc ($("$ndlc" --version))"

# ---- the machine ----------------------------------------------------------------------------
. "$here/find_nvcc.sh"
export NVCC="$nvcc"
say "nvcc: $nvcc ($("$nvcc" --version | tail -n 2 | head -n 1))"
if ! gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader 2>/dev/null | head -n 1) ||
   [ -z "$gpu" ]; then
    echo "run.sh: no GPU (nvidia-smi finds none): this script runs on a GPU machine" >&2
    exit 1
fi
say "GPU: $gpu"
export NDLC_CUDA_ARCH=${NDLC_CUDA_ARCH:-native}
work=$(mktemp -d "${TMPDIR:-/tmp}/ndlc_gpu.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
cc -std=c11 -O2 -I. -o "$work/stcmp" tests/harness/stcmp.c runtime/safetensors.c -lm || exit 1

# ---- the goldens ---------------------------------------------------------------------------------
# a case is CASE.ndl (run_golden.sh cuda-exe) or CASE.ndl:MODE; the whole models also with
# --external-weights (create reads the weight file beside the executable)
cases=$({ for f in tests/*/*.out.safetensors; do c=${f%.out.safetensors}.ndl; [ -f "$c" ] && echo "$c"; done
          for f in tests/models/*.out.safetensors; do c=${f%.out.safetensors}.ndl; [ -f "$c" ] && echo "$c:cuda-exe-ext"; done; } |
        grep -E -e "$filter")
[ $goldens = 1 ] || cases= # --gemm-only: no case (both golden sections report 0 of 0)
ncases=$(echo "$cases" | grep -c .)
say "$ncases golden cases on the GPU, $jobs at a time"
mkdir -p "$work/res"
# Each case prints its result as it ends (and, with OUT set, appends it to
# $OUT/gpu_progress.txt, and a failure's log tail to $OUT/gpu_fail.txt), so a run cut short
# still shows which cases passed, which failed and why, and which hung;
# a case gets CASE_TIMEOUT seconds (default 120: compiling and running one takes ~10 s).
progress=/dev/null fails=/dev/null
[ -n "${OUT:-}" ] && [ -d "$OUT" ] && progress=$OUT/gpu_progress.txt fails=$OUT/gpu_fail.txt
export ndlc work root progress fails
export CASE_TIMEOUT=${CASE_TIMEOUT:-120}
echo "$cases" | xargs -P "$jobs" -I{} sh -c '
    c={}; key=$(echo "$c" | tr / _); t0=$(date +%s); mode=cuda-exe
    case $c in *:*) mode=${c#*:} ;; esac
    timeout "$CASE_TIMEOUT" sh "$root/tests/harness/run_golden.sh" "$ndlc" "$work/stcmp" "${c%%:*}" "$mode" > "$work/res/$key.log" 2>&1
    rc=$?; t=$(( $(date +%s) - t0 ))
    if [ $rc -eq 0 ]; then r=pass
    elif [ $rc -eq 124 ]; then r=FAIL-timeout
    elif grep -q "not supported on --target cuda yet" "$work/res/$key.log"; then r=unsupported
    else r=FAIL; fi
    echo "$r $t $c" > "$work/res/$key.res"
    case $r in FAIL*) printf -- "---- %s\n%s\n" "$c" "$(tail -n 12 "$work/res/$key.log")" >> "$fails" ;; esac
    echo "$r $t $c" | tee -a "$progress"'
pass=0 fail=0 unsup=0
report=$work/report.txt
{
    printf '%-52s %-12s %s\n' "case" "result" "seconds"
    for c in $cases; do
        key=$(echo "$c" | tr / _)
        set -- $(cat "$work/res/$key.res" 2>/dev/null || echo "FAIL 0 $c")
        printf '%-52s %-12s %s\n' "$c" "$1" "$2"
    done
} > "$report"
pass=$(grep -c ' pass ' "$report")
fail=$(grep -c ' FAIL' "$report")
unsup=$(grep -c ' unsupported ' "$report")
cat "$report"
for f in "$work"/res/*.res; do
    [ -f "$f" ] || continue # no case
    set -- $(cat "$f")
    if [ "${1%-timeout}" = FAIL ]; then
        echo "---- $3"
        tail -n 15 "$work/res/$(echo "$3" | tr / _).log"
    fi
done
say "goldens: $pass passed, $fail failed, $unsup not supported on --target cuda yet (of $ncases)"
# the pruned layers (sparse CSR / N:M kernels) and hashed weights (expanded once by create)
# are among them; their count on its own, for the sparse and hashed paths of the backend
sh_total=$(grep -c -E '^tests/(prune/|sharing/roast_|ops/hashed)' "$report")
sh_pass=$(grep -E '^tests/(prune/|sharing/roast_|ops/hashed)' "$report" | grep -c ' pass ')
say "pruned and hashed goldens (sparse kernels, hashed expansion in create): $sh_pass of $sh_total passed"
status=0
[ "$fail" -eq 0 ] || status=1

# ---- the goldens through the PTX of the LLVM backend ------------------------------------------------
# build-gpu/ptx/<key>: prebuilt by --prepare (<key>.err: refused or failed there, with why);
# without it, this ndlc builds each case when it can emit PTX (it has LLVM).
ptx_dir=$root/build-gpu/ptx
mkdir -p "$work/ptx"
export ptx_dir
# (the :MODE entries are the CUDA backend's --external-weights runs: none here)
ptx_cases=$(echo "$cases" | grep -v :)
echo "$ptx_cases" | xargs -P "$jobs" -I{} sh -c '
    c={}; key=$(echo "$c" | tr / _); log=$work/ptx/$key.log; t0=$(date +%s)
    if [ -x "$ptx_dir/$key" ]; then
        tol=$(sed -n "s/^[[:space:]]*#[[:space:]]*TOL:[[:space:]]*//p" "$c" | head -n 1)
        set -- $tol
        stem=${c%.ndl}
        { timeout "$CASE_TIMEOUT" "$ptx_dir/$key" "$stem.in.safetensors" "$work/ptx/$key.out.safetensors" &&
          "$work/stcmp" ${1:+--atol $1 --rtol $2} "$work/ptx/$key.out.safetensors" "$stem.out.safetensors"; } > "$log" 2>&1
        rc=$?
    elif [ -f "$ptx_dir/$key.err" ]; then
        cp "$ptx_dir/$key.err" "$log"; rc=1
    else
        timeout "$CASE_TIMEOUT" sh "$root/tests/harness/run_golden.sh" "$ndlc" "$work/stcmp" "$c" ptx-exe > "$log" 2>&1
        rc=$?
    fi
    t=$(( $(date +%s) - t0 ))
    if [ $rc -eq 0 ]; then r=pass
    elif [ $rc -eq 124 ]; then r=FAIL-timeout
    elif grep -q "for --emit ptx yet\|not available" "$log"; then r=unsupported
    else r=FAIL; fi
    echo "$r $t $c" > "$work/ptx/$key.res"
    case $r in FAIL*) printf -- "---- ptx %s\n%s\n" "$c" "$(tail -n 12 "$log")" >> "$fails" ;; esac
    echo "ptx $r $t $c" | tee -a "$progress"'
ptx_report=$work/ptx_report.txt
{
    printf '%-52s %-12s %s\n' "case (PTX, --backend llvm)" "result" "seconds"
    for c in $ptx_cases; do
        key=$(echo "$c" | tr / _)
        set -- $(cat "$work/ptx/$key.res" 2>/dev/null || echo "FAIL 0 $c")
        printf '%-52s %-12s %s\n' "$c" "$1" "$2"
    done
} > "$ptx_report"
cat "$ptx_report"
for f in "$work"/ptx/*.res; do
    [ -f "$f" ] || continue
    set -- $(cat "$f")
    if [ "${1%-timeout}" = FAIL ]; then
        echo "---- ptx $3"
        tail -n 15 "$work/ptx/$(echo "$3" | tr / _).log"
    fi
done
ptx_pass=$(grep -c ' pass ' "$ptx_report")
ptx_fail=$(grep -c ' FAIL' "$ptx_report")
ptx_unsup=$(grep -c ' unsupported ' "$ptx_report")
say "PTX goldens: $ptx_pass passed, $ptx_fail failed, $ptx_unsup not supported for --emit ptx yet (of $(echo "$ptx_cases" | grep -c .))"
[ "$ptx_fail" -eq 0 ] || status=1

# ---- the GEMM ------------------------------------------------------------------------------------
case $gpu in
*H100*PCIe*) peak=378 ;;
*H100*NVL* | *H200*NVL*) peak=417.5 ;;
*H100* | *H200* | *GH200*) peak=494.7 ;;
*A100*) peak=156 ;;
*) peak=0 ;;
esac
peak=${PEAK_TFLOPS:-$peak}
# the 4096^3 GEMM of tests/gpu/run.sh: y = matmul(a, b), and y = linear(a, w) whose w [n, k]
# is K-major (as the wgmma kernel needs); the same model name, so the same API
gemm_model() { # B-NAME EXPRESSION [M N K]: a [M, K]; b [K, N] (matmul) or w [N, K] (linear)
    m=${3:-4096} n=${4:-4096} k=${5:-4096}
    bshape="$k, $n"
    [ "$1" = w ] && bshape="$n, $k"
    printf 'model Gemm_bench {\n  input a: f32[%s, %s];\n  input %s: f32[%s];\n  output y;\n\n' "$m" "$k" "$1" "$bshape"
    printf '  forward {\n    y = %s;\n  }\n}\n' "$2"
}
gemm_model b "matmul(a, b)" > "$work/gemm.ndl"
gemm_model w "linear(a, w)" > "$work/gemm_linear.ndl"
# the wgmma kernels on edge shapes (M N K), every entry checked: partial tiles and a K tail
# (TMA zero fill), the fewest rows that reach the tensor cores, a cluster with a CTA past M,
# and K % 4 != 0 (rows not 16-byte aligned: the cp.async kernel)
wg_edges="200 300 100
9 1000 64
333 520 4096
130 250 36
129 257 37"
cublas=
ls /usr/local/cuda/lib64/libcublas.so* > /dev/null 2>&1 && cublas="-DNDLC_BENCH_CUBLAS -lcublas"
if [ $gemm = 0 ]; then
    say "GEMM skipped (--goldens-only)"
elif "$ndlc" "$work/gemm.ndl" --target cuda --emit cuda -o "$work/gemm.cu" &&
     "$ndlc" "$work/gemm_linear.ndl" --target cuda --emit cuda -o "$work/gemm_linear.cu"; then
    # variant: NAME|GEMM_CU|nvcc flags; built in parallel (nvcc is one thread), timed one at a time
    variants="gemm3|gemm.cu|-arch=$NDLC_CUDA_ARCH -DNDLCU_TF32_PASSES=3 $cublas
gemm1|gemm.cu|-arch=$NDLC_CUDA_ARCH -DNDLCU_TF32_PASSES=1
lin1|gemm_linear.cu|-arch=$NDLC_CUDA_ARCH -DGEMM_LINEAR -DNDLCU_TF32_PASSES=1 $cublas"
    wg="-gencode=arch=compute_90a,code=sm_90a -DGEMM_LINEAR -DNDLCU_TF32_PASSES=1 -DNDLCU_GEMM_WGMMA"
    case $gpu in
    *", 9.0")
        # the TMA kernel (what a linear runs), the cp.async one forced, and the edge shapes
        variants="$variants
linwg|gemm_linear.cu|$wg
linwg_cpasync|gemm_linear.cu|$wg -DNDLCU_WG_NO_TMA"
        edges=$(echo "$wg_edges" | while read -r m n k; do
            gemm_model w "linear(a, w)" "$m" "$n" "$k" > "$work/edge_${m}x${n}x$k.ndl" &&
                "$ndlc" "$work/edge_${m}x${n}x$k.ndl" --target cuda --emit cuda -o "$work/edge_${m}x${n}x$k.cu" &&
                echo "wgedge_${m}x${n}x$k|edge_${m}x${n}x$k.cu|$wg -DGEMM_M=$m -DGEMM_N=$n -DGEMM_K=$k"
        done)
        variants="$variants
$edges" ;;
    *) echo "ndlc_wgmma: skipped: the GPU is not compute capability 9.0 (the wgmma kernel is sm_90a code)" |
           tee "$work/linwg.out" ;;
    esac
    echo "$variants" | {
        while IFS='|' read -r name src flags; do
            # shellcheck disable=SC2086
            "$nvcc" -O3 -I"$work" -DGEMM_CU="\"$src\"" $flags -o "$work/$name" "$here/gemm_bench.cu" \
                > "$work/$name.log" 2>&1 &
        done
        wait # in the pipeline's subshell, whose children the builds are
    }
    for name in $(echo "$variants" | cut -d'|' -f1); do
        if [ -x "$work/$name" ]; then
            "$work/$name" > "$work/$name.out" 2>&1 || status=1
            cat "$work/$name.out"
        else
            tail -n 20 "$work/$name.log"
            status=1
        fi
    done
    # the wgmma kernel's machine code: HGMMA instructions, or it is on a slower path
    if [ -x "$work/linwg" ] && command -v cuobjdump > /dev/null 2>&1; then
        echo "ndlc_wgmma SASS: $(cuobjdump --dump-sass "$work/linwg" | grep -c HGMMA) HGMMA instructions" |
            tee -a "$work/linwg.out"
    fi
    cat "$work"/wgedge_*.out > "$work/wgedges.out" 2>/dev/null
    awk -v peak="$peak" '/tflops=/ {
        name = $1
        for (i = 2; i <= NF; i++) {
            if ($i ~ /^tflops=/) { split($i, kv, "="); t = kv[2] }
            if ($i ~ /^(tf32_passes|op)=/) name = name " " $i
        }
        if (peak > 0) printf "GEMM 4096^3 %-38s %7.1f TFLOP/s = %5.1f%% of the dense TF32 peak (%s TFLOP/s)\n", name, t, 100 * t / peak, peak
        else printf "GEMM 4096^3 %-38s %7.1f TFLOP/s (peak unknown for this GPU: set PEAK_TFLOPS)\n", name, t
    }' "$work"/gemm3.out "$work"/gemm1.out "$work"/lin1.out "$work"/linwg.out "$work"/linwg_cpasync.out 2>/dev/null |
        tee "$work/gemm_summary.txt"
else
    status=1
fi

# ---- the benchmarks of issue 10: MoE sparse vs dense, the bench/ models vs PyTorch CUDA -----------
# each writes its files under $work/bench (the MoE weights, 67 MB, are made there by python3)
bench_results=$work/bench_results.txt
: > "$bench_results"
if [ $bench = 1 ]; then
    say "MoE 8 experts top-2 at 4096 tokens, sparse vs dense (bench/moe/gpu.sh)"
    if sh bench/moe/gpu.sh --ndlc "$ndlc" --out "$work/bench/moe" > "$work/moe.txt" 2>&1; then
        grep -E '^(moe |MoE )' "$work/moe.txt" | tee -a "$bench_results"
    else
        cat "$work/moe.txt"
        grep -E '^(moe |MoE )' "$work/moe.txt" >> "$bench_results"
        echo "MoE benchmark: FAIL (bench/moe/gpu.sh: $(tail -n 1 "$work/moe.txt"))" | tee -a "$bench_results"
        status=1
    fi
    say "the bench/ models against PyTorch CUDA (bench/gpu_models.sh)"
    sh bench/gpu_models.sh --ndlc "$ndlc" --stcmp "$work/stcmp" --out "$work/bench/models" > "$work/models.txt" 2>&1
    models_rc=$?
    tee -a "$bench_results" < "$work/models.txt"
    [ $models_rc -eq 0 ] || { echo "bench models vs PyTorch CUDA: FAIL" | tee -a "$bench_results"; status=1; }
fi
say "finished, status $status"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
    { echo "GPU: $gpu"; cat "$report"; echo "goldens: $pass passed, $fail failed, $unsup unsupported";
      cat "$ptx_report"; echo "PTX goldens: $ptx_pass passed, $ptx_fail failed, $ptx_unsup unsupported";
      cat "$work"/gemm*.out "$work"/lin*.out "$work/wgedges.out" "$work/gemm_summary.txt" 2>/dev/null
      cat "$bench_results"; } > "$OUT/gpu_results.txt"
    # every case's log in one file (a machine lent for a session may return only a few files)
    tar -czf "$OUT/gpu_logs.tgz" -C "$work" res ptx 2>/dev/null
fi
exit $status
