#!/bin/sh
# SPDX-License-Identifier: MIT
# subnets_test.sh - `ndlc subnets` on the example supernet, one case per call.
#
#   subnets_test.sh NDLC JSONGET CASE
#
# CASE (one CTest each, supernet-subnets/CASE):
#   exhaustive     ks and e fixed with -D, r and d searched (135 configurations, all
#                  compiled): the front is within the limits, sorted by MACs, and no point
#                  covers another; each point, fed back as a --subnet file (a front point's
#                  "config" is one), gets the same MACs and parameters from --report
#   evolution      the full space (3.8e13): the seeded search is deterministic, its front
#                  is within the limits, and the table agrees with --json
#   infeasible     limits nothing meets: an empty front, exit 0
#   usage          'ndlc subnets' without --max-mmacs, and its options on a compile: exit 2
#   measure        --measure on one configuration: a latency for the point
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
if [ $# -ne 3 ]; then
    echo "usage: subnets_test.sh NDLC JSONGET CASE" >&2
    exit 2
fi
ndlc=$1 jsonget=$2 name=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
net=$root/examples/ofa_mbv3.ndl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/subnets.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
failed=0

fail() {
    echo "FAIL: $name: $*"
    failed=1
}

run() {
    last="ndlc $*"
    "$ndlc" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
}

expect_rc() {
    [ "$rc" = "$1" ] || { fail "'$last' exited with status $rc, expected $1"; cat "$tmp/stderr"; }
}

get() { "$jsonget" "$1" "$2"; }

# check_front FILE MAX_MACS MAX_PARAMS: the front of a --json answer is within the
# limits, sorted by MACs (then parameters, descending), and no point covers another.
check_front() {
    n=$(get "$1" 'front.#') || { fail "no front in $1"; return; }
    i=0
    prev_m= prev_p=
    while [ "$i" -lt "$n" ]; do
        m=$(get "$1" "front.$i.macs")
        p=$(get "$1" "front.$i.parameters")
        awk -v m="$m" -v p="$p" -v mm="$2" -v mp="$3" 'BEGIN { exit !(m <= mm * 1e6 && (mp == 0 || p <= mp)) }' ||
            fail "front point $i ($m MACs, $p parameters) is outside the limits"
        if [ -n "$prev_m" ]; then
            awk -v a="$prev_m" -v b="$m" -v pa="$prev_p" -v pb="$p" 'BEGIN { exit !(a < b && pa > pb) }' ||
                fail "front points $((i - 1)) and $i are not a Pareto front by MACs ($prev_m, $prev_p; $m, $p)"
        fi
        prev_m=$m prev_p=$p
        i=$((i + 1))
    done
}

case $name in
exhaustive)
    fixed="-D ks=3 -D e=[3,4,6,3,4,6,3,4,6,3,4,6]"
    run subnets "$net" $fixed --max-mmacs 1.2 --max-params 30000 --json
    expect_rc 0
    cp "$tmp/stdout" "$tmp/front.json"
    [ "$(get "$tmp/front.json" method)" = exhaustive ] || fail "expected an exhaustive search"
    [ "$(get "$tmp/front.json" evaluated)" = 135 ] || fail "expected 135 configurations evaluated"
    [ "$(get "$tmp/front.json" failed)" = 0 ] || fail "some configurations failed"
    [ "$(get "$tmp/front.json" fixed)" = '["ks","e"]' ] || fail "ks and e should be fixed"
    check_front "$tmp/front.json" 1.2 30000
    n=$(get "$tmp/front.json" 'front.#')
    [ "$n" -ge 2 ] || fail "expected a front of several points, got $n"
    i=0
    while [ "$i" -lt "$n" ]; do
        get "$tmp/front.json" "front.$i.config" >"$tmp/cfg.json"
        run "$net" --subnet "$tmp/cfg.json" $fixed --emit json -o "$tmp/report.json"
        expect_rc 0
        for k in macs parameters; do
            a=$(get "$tmp/front.json" "front.$i.$k")
            [ "$k" = parameters ] && b=$(get "$tmp/report.json" total.parameters) || b=$(get "$tmp/report.json" total.macs)
            [ "$a" = "$b" ] || fail "front point $i: $k $a, but --report with its config says $b"
        done
        i=$((i + 1))
    done
    # the table says the same
    run subnets "$net" $fixed --max-mmacs 1.2 --max-params 30000
    expect_rc 0
    [ "$(grep -c -- '-D r=' "$tmp/stdout")" = "$n" ] || fail "the table lists another number of points"
    ;;
evolution)
    run subnets "$net" --max-mmacs 1 --max-params 20000 --budget 150 --seed 7 --json
    expect_rc 0
    cp "$tmp/stdout" "$tmp/a.json"
    [ "$(get "$tmp/a.json" method)" = evolution ] || fail "expected an evolutionary search"
    [ "$(get "$tmp/a.json" evaluated)" = 150 ] || fail "expected the budget of 150 evaluated"
    [ "$(get "$tmp/a.json" seed)" = 7 ] || fail "the seed is not reported"
    check_front "$tmp/a.json" 1 20000
    [ "$(get "$tmp/a.json" 'front.#')" -ge 1 ] || fail "the search found nothing within the limits"
    run subnets "$net" --max-mmacs 1 --max-params 20000 --budget 150 --seed 7 --json
    cmp -s "$tmp/stdout" "$tmp/a.json" || fail "the same seed gave another answer"
    run subnets "$net" --max-mmacs 1 --max-params 20000 --budget 150 --seed 7
    expect_rc 0
    first=$(sed -n 's/.*  \(-D r=.*\)$/\1/p' "$tmp/stdout" | head -n 1)
    get "$tmp/a.json" front.0.config >"$tmp/cfg.json"
    run "$net" $first --emit json -o "$tmp/r1.json"
    expect_rc 0
    run "$net" --subnet "$tmp/cfg.json" --emit json -o "$tmp/r2.json"
    expect_rc 0
    [ "$(get "$tmp/r1.json" total.macs)" = "$(get "$tmp/r2.json" total.macs)" ] ||
        fail "the table's first point and the JSON's first point differ"
    ;;
infeasible)
    run subnets "$net" --max-mmacs 0.01 --budget 20
    expect_rc 0
    grep -q 'no configuration fits the limits' "$tmp/stdout" || fail "expected an empty front"
    run subnets "$net" --max-mmacs 0.01 --budget 20 --json
    expect_rc 0
    [ "$(get "$tmp/stdout" 'front.#')" = 0 ] || fail "expected an empty JSON front"
    ;;
usage)
    run subnets "$net"
    expect_rc 2
    grep -q "needs --max-mmacs" "$tmp/stderr" || fail "no message about --max-mmacs"
    run "$net" --max-mmacs 3 --emit ir -o "$tmp/x.ir"
    expect_rc 2
    grep -q "belong to 'ndlc subnets'" "$tmp/stderr" || fail "no message about subnets-only options"
    run subnets "$net" --max-mmacs 3 --repeat 0
    expect_rc 2
    run subnets "$net" --max-mmacs 3 -D r=36
    expect_rc 1
    grep -q "value 36 of elastic variable 'r' (from -D)" "$tmp/stderr" || fail "no diagnostic for -D r=36"
    ;;
measure)
    run subnets "$net" -D d=2 -D ks=3 -D e=3 -D r=32 --max-mmacs 1 --measure --repeat 5 --json
    expect_rc 0
    [ "$(get "$tmp/stdout" 'front.#')" = 1 ] || fail "expected one point"
    ms=$(get "$tmp/stdout" front.0.latency_ms)
    awk -v t="$ms" 'BEGIN { exit !(t > 0 && t < 1000) }' || fail "no plausible latency: '$ms'"
    ;;
*)
    echo "subnets_test.sh: unknown case '$name'" >&2
    exit 2
    ;;
esac
exit $failed
