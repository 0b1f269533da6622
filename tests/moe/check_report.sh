#!/bin/sh
# SPDX-License-Identifier: MIT
# check_report.sh NDLC JSONGET - `--report` lists each moe layer (spec 8.4, issue 8): its
# experts, policy and active experts per token, for a top-2 layer pair sharing a pool
# (unipool), a threshold layer (dynamoe) and hash routing (hash_routing).
set -u
ndlc=$1
jsonget=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/moereport.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0
expect() { # CASE PATH WANT
    got=$("$jsonget" "$tmp/$1.json" "$2") || got="(missing)"
    if [ "$got" != "$3" ]; then
        echo "check_report.sh: $1: $2 is '$got', expected '$3'" >&2
        status=1
    fi
}
for c in unipool dynamoe hash_routing; do
    "$ndlc" "$here/$c.ndl" --emit ir -o "$tmp/$c.ir" --report "$tmp/$c.json" || exit 1
done
expect unipool 'moe.#' 2
expect unipool moe.1.index 1
expect unipool moe.1.num_experts 4
expect unipool moe.1.experts '["pool.0","pool.1","pool.2","pool.3"]'
expect unipool moe.0.policy '{"kind":"topk","k":2,"renorm":true,"softmax":true}'
expect unipool moe.0.active_experts_per_token '{"min":2,"max":2,"expected":2}'
expect dynamoe moe.0.policy '{"kind":"threshold","p":0.6,"max_k":3}'
expect dynamoe moe.0.active_experts_per_token '{"min":1,"max":3,"expected":null}'
expect hash_routing moe.0.policy '{"kind":"assign"}'
expect hash_routing moe.0.active_experts_per_token.expected 1
exit $status
