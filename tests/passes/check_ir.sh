#!/bin/sh
# SPDX-License-Identifier: MIT
# check_ir.sh - a small FileCheck for pass tests: compiles CASE.ndl to textual IR with
# the default pipeline (`ndlc CASE.ndl --emit ir`, in CASE's directory so its `weights`
# file is found) and checks the `#` directives of CASE.ndl against it:
#
#   # CHECK: text          some line contains text, after the line the previous CHECK
#                          matched (CHECKs match in order)
#   # CHECK-NOT: text      no line of the output contains text
#   # CHECK-COUNT-<n>: text   exactly n lines contain text
#
# text is a fixed string (no regular expressions), leading and trailing blanks trimmed.
# A case without any directive is an error. On failure it prints each failed directive
# with its line in CASE.ndl, the command, and the IR.
# Usage: check_ir.sh NDLC CASE.ndl. Exit status: 0 pass, 1 fail, 2 usage.
set -u

if [ $# -ne 2 ] || [ ! -f "$2" ]; then
    echo "usage: check_ir.sh NDLC CASE.ndl" >&2
    exit 2
fi
case $1 in
/*) ndlc=$1 ;;
*) ndlc=$PWD/$1 ;;  # the case is compiled from its own directory
esac
dir=$(dirname "$2")
base=$(basename "$2")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_ir.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

cmd="cd $dir && $ndlc $base --emit ir -o $tmp/out.ir"
if ! (cd "$dir" && "$ndlc" "$base" --emit ir -o "$tmp/out.ir"); then
    echo "FAIL: ndlc failed" >&2
    echo "  $cmd" >&2
    exit 1
fi

# Directives as "KIND<TAB>COUNT<TAB>LINE<TAB>TEXT", in file order.
awk '
    {
        if (!match($0, /^[ \t]*#[ \t]*CHECK(-NOT|-COUNT-[0-9]+)?:/)) next
        head = substr($0, 1, RLENGTH)
        text = substr($0, RLENGTH + 1)
        gsub(/^[ \t]+|[ \t]+$/, "", text)
        kind = "CHECK"; count = 0
        if (head ~ /CHECK-NOT:/) kind = "NOT"
        else if (head ~ /CHECK-COUNT-/) {
            kind = "COUNT"
            count = head
            sub(/.*CHECK-COUNT-/, "", count)
            sub(/:.*/, "", count)
        }
        printf "%s\t%d\t%d\t%s\n", kind, count, NR, text
    }' "$2" > "$tmp/directives"
if [ ! -s "$tmp/directives" ]; then
    echo "FAIL: $2 has no CHECK directives" >&2
    exit 1
fi

awk -F '\t' -v ir="$tmp/out.ir" -v case_file="$2" '
    BEGIN {
        n = 0
        while ((getline line < ir) > 0) out[++n] = line
        close(ir)
        at = 1      # CHECKs search from here
        failed = 0
    }
    {
        kind = $1; want = $2; where = $3; text = $4
        if (kind == "CHECK") {
            found = 0
            for (i = at; i <= n; i++)
                if (index(out[i], text)) { found = i; break }
            if (!found) {
                printf "%s:%d: CHECK: \"%s\" not found after output line %d\n",
                       case_file, where, text, at - 1 > "/dev/stderr"
                failed = 1
            } else at = found + 1
        } else if (kind == "NOT") {
            for (i = 1; i <= n; i++)
                if (index(out[i], text)) {
                    printf "%s:%d: CHECK-NOT: \"%s\" found on output line %d: %s\n",
                           case_file, where, text, i, out[i] > "/dev/stderr"
                    failed = 1
                    break
                }
        } else {
            c = 0
            for (i = 1; i <= n; i++) if (index(out[i], text)) c++
            if (c != want) {
                printf "%s:%d: CHECK-COUNT-%d: \"%s\" found on %d lines\n",
                       case_file, where, want, text, c > "/dev/stderr"
                failed = 1
            }
        }
    }
    END { exit failed }' "$tmp/directives"
status=$?
if [ $status -ne 0 ]; then
    echo "  $cmd" >&2
    echo "--- IR:" >&2
    cat "$tmp/out.ir" >&2
    exit 1
fi
exit 0
