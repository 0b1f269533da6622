#!/bin/sh
# SPDX-License-Identifier: MIT
# check_pool.sh NDLC - UniPool's two moe layers share one expert pool (spec 8.4, issue 8):
# the generated C stores each expert's weights once and defines each expert layer function
# once, which both layers call.
set -u
ndlc=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/moepool.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
"$ndlc" "$here/unipool.ndl" --emit c -o "$tmp/net.c" || exit 1
status=0
for e in 0 1 2 3; do
    for layer in fc1 fc2; do
        fn="Unipool_pool_${e}_${layer}_linear"
        defs=$(grep -c "^static int $fn(" "$tmp/net.c")
        calls=$(grep -c "rc = $fn(" "$tmp/net.c")
        arrays=$(grep -c "^static .*P_pool_${e}_${layer}_linear\[" "$tmp/net.c")
        if [ "$defs" -ne 1 ] || [ "$calls" -ne 2 ] || [ "$arrays" -ne 1 ]; then
            echo "check_pool.sh: $fn: $defs definitions, $calls calls, $arrays weight arrays (want 1, 2, 1)" >&2
            status=1
        fi
    done
done
exit $status
