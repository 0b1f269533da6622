#!/bin/sh
# SPDX-License-Identifier: MIT
# sparse_hashed.sh - what --target cuda generates for pruned and hashed layers (needs no nvcc;
# the numerics are checked on a GPU by tests/gpu/run.sh).
#
#   sparse_hashed.sh NDLC JSONGET PRUNE_DIR SHARING_DIR
#
# 1. PRUNE_DIR/sparse_zeros.ndl (fc1 90% sparse, fc4 all zero; --sparse auto): for every
#    sparsity.layers entry of the report, each layer function of that layer launches
#    ndlcu_sparse in the entry's cuda_format and no GEMM when cuda_format is csr or nm, and
#    the GEMM otherwise; a csr pack holds exactly 8 + n + 1 + 2 nnz floats (nnz from the
#    report's density), and the dense array of a weight read only packed is not stored.
# 2. sparse_zeros_off (--sparse off): no sparse launch anywhere. sparse_zeros_nm (--sparse
#    nm): at least one N:M launch.
# 3. SHARING_DIR/roast_linear.ndl (--share materialize): create calls every `hashed` layer
#    function and run_stream calls none (the weights are expanded once, not per run).
# Exit status: 0 pass, 1 fail.
set -u
if [ $# -ne 4 ]; then
    echo "usage: sparse_hashed.sh NDLC JSONGET PRUNE_DIR SHARING_DIR" >&2
    exit 2
fi
ndlc=$1 jsonget=$2 prune=$3 sharing=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sparse_hashed.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $1" >&2; exit 1; }

# emit STEM DIR: DIR/STEM.ndl [# ARGS:] -> $tmp/STEM.cu and $tmp/STEM.json
emit() {
    args=$(sed -n 's/^[[:space:]]*#[[:space:]]*ARGS:[[:space:]]*//p' "$2/$1.ndl" | head -n 1)
    (cd "$2" && "$ndlc" "$1.ndl" $args --target cuda --emit cuda -o "$tmp/$1.cu" --report "$tmp/$1.json") ||
        fail "ndlc --target cuda on $2/$1.ndl exited with status $?"
}
# body FILE NAME: the text of the function NAME (from its definition to the closing brace)
body() { sed -n "/^[a-z].* $2(/,/^}/p" "$1"; }

emit sparse_zeros "$prune"
cu=$tmp/sparse_zeros.cu
n=$("$jsonget" "$tmp/sparse_zeros.json" 'sparsity.layers.#') || fail "the report has no sparsity.layers"
i=0 nsparse=0
while [ "$i" -lt "$n" ]; do
    layer=$("$jsonget" "$tmp/sparse_zeros.json" "sparsity.layers.$i.layer") &&
        op=$("$jsonget" "$tmp/sparse_zeros.json" "sparsity.layers.$i.op") &&
        weight=$("$jsonget" "$tmp/sparse_zeros.json" "sparsity.layers.$i.weight") &&
        gpu=$("$jsonget" "$tmp/sparse_zeros.json" "sparsity.layers.$i.cuda_format") &&
        density=$("$jsonget" "$tmp/sparse_zeros.json" "sparsity.layers.$i.density") &&
        dense_bytes=$("$jsonget" "$tmp/sparse_zeros.json" "sparsity.layers.$i.dense_bytes") ||
        fail "incomplete sparsity.layers.$i"
    fns=$(sed -n "s/^static int \([A-Za-z0-9]*_${layer}_${op}\(_[0-9]*\)\{0,1\}\)(.*/\1/p" "$cu")
    [ -n "$fns" ] || fail "no layer function for $op $layer"
    for fn in $fns; do
        body "$cu" "$fn" > "$tmp/fn"
        case $gpu in
        csr | nm)
            nsparse=$((nsparse + 1))
            grep -q "ndlcu_sparse(&p, st)" "$tmp/fn" || fail "$fn ($gpu) does not launch the sparse kernel: $(cat "$tmp/fn")"
            grep -q "ndlcu_gemm\|ndlcu_conv2d" "$tmp/fn" && fail "$fn ($gpu) launches a dense kernel"
            fmt=$(echo "$gpu" | tr a-z A-Z)
            # p = {NDLRT_SPARSE_<fmt>, batch, n, k, plane, a1 /* m->ARRAY */, ...}
            set -- $(sed -n "s/.*NdlcuSparse p = {NDLRT_SPARSE_$fmt, [^,]*, \([0-9]*\), \([0-9]*\), [^,]*, a1 \/\* m->\([A-Za-z0-9_]*\) .*/\1 \2 \3/p" "$tmp/fn")
            [ $# -eq 3 ] || fail "$fn: no NDLRT_SPARSE_$fmt parameters"
            [ $(($1 * $2 * 4)) -eq "$dense_bytes" ] || fail "$fn: weight $1 x $2, the report's dense_bytes $dense_bytes"
            count=$(sed -n "s/^static const float $3\[\([0-9]*\)\] = {/\1/p" "$cu")
            [ -n "$count" ] || fail "$fn reads m->$3, which is not stored"
            if [ "$gpu" = csr ]; then
                want=$(awk -v d="$density" -v n="$1" -v k="$2" 'BEGIN { printf "%d", 8 + n + 1 + 2 * int(d * n * k + 0.5) }')
                [ "$count" -eq "$want" ] || fail "$3 holds $count floats, CSR of $1 x $2 at density $density needs $want"
            fi
            # the caller passes the pack as the weight
            grep -q "= $fn(s, [^,]*, m->$3[,)]" "$cu" || fail "run_stream does not pass m->$3 to $fn"
            ;;
        dense)
            grep -q "ndlcu_gemm<[a-z]*>(&p, st)\|ndlcu_conv2d(&p, st)" "$tmp/fn" || fail "$fn (dense) launches no dense kernel"
            ;;
        *) fail "sparsity.layers.$i: cuda_format '$gpu'" ;;
        esac
    done
    i=$((i + 1))
done
[ "$nsparse" -gt 0 ] || fail "no sparse layer in sparse_zeros: the case tests nothing"
# fc1's weight is read only by its (sparse) layers: its dense array is not stored
grep -q "^static const float W_fc1_weight\[" "$cu" && fail "the dense fc1.weight is stored beside its pack"
grep -q "^static const float S_fc1_weight_csr\[" "$cu" || fail "no CSR pack of fc1.weight"

emit sparse_zeros_off "$prune"
grep -q "ndlcu_sparse(&p, st)" "$tmp/sparse_zeros_off.cu" && fail "--sparse off launches a sparse kernel"
emit sparse_zeros_nm "$prune"
grep -q "NdlcuSparse p = {NDLRT_SPARSE_NM," "$tmp/sparse_zeros_nm.cu" || fail "--sparse nm launches no N:M kernel"

emit roast_linear "$sharing"
cu=$tmp/roast_linear.cu
hashed=$(sed -n 's/^static int \(RoastLinear_[A-Za-z0-9_]*_hashed\(_[0-9]*\)\{0,1\}\)(.*/\1/p' "$cu")
[ -n "$hashed" ] || fail "roast_linear has no hashed layer function"
body "$cu" RoastLinear_create > "$tmp/create"
body "$cu" RoastLinear_run_stream > "$tmp/run"
[ -s "$tmp/create" ] && [ -s "$tmp/run" ] || fail "no RoastLinear_create or RoastLinear_run_stream"
for fn in $hashed; do
    grep -q "rc = $fn(NULL, m->W_pool, m->init[0-9]*," "$tmp/create" || fail "create does not expand the pool with $fn"
    grep -q "$fn(" "$tmp/run" && fail "run_stream calls $fn: the weight is expanded on every run"
done
grep -q "ndlcu_hashed" "$tmp/run" && fail "run_stream launches the hashed kernel"
grep -q "m->init[0-9]*, m->W_fc1_bias" "$tmp/run" || fail "run_stream does not read the expanded fc1 weight"
exit 0
