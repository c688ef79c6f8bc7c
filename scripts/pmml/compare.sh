#!/usr/bin/env bash
# Scores the five benchmark documents with Assay's PMML runtime and with JPMML-Evaluator in one run,
# on the same rows, one thread each, and prints their rows per second side by side.
#
#   scripts/pmml/compare.sh [--rows N] [--passes N] [NAME ...]
#
# JPMML goes first: it also writes its results for every distinct input row, and Assay checks its
# own against them (to 1e-9) before it is timed, so a fast wrong answer cannot pass. Java 17 and the
# JPMML jars of the jpmml_evaluator package on PyPI are needed (jpmml_bench.py installs the package
# where it is missing).
set -euo pipefail
cd "$(dirname "$0")/../.."

rows=100000
passes=5
names=()
while [ $# -gt 0 ]; do
    case "$1" in
    --rows) rows=$2; shift 2 ;;
    --passes) passes=$2; shift 2 ;;
    -*) echo "usage: scripts/pmml/compare.sh [--rows N] [--passes N] [NAME ...]" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
    esac
done
[ ${#names[@]} -gt 0 ] || names=(tree forest gbm logistic mlp)

scripts/install-deps
swift build -c release --product assay >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 scripts/pmml/jpmml_bench.py --rows "$rows" --warmup 3 --passes "$passes" --expected-dir "$work" "${names[@]}" \
    | tee "$work/jpmml.txt"
.build/release/assay bench pmml --rows "$rows" --warmup 1 --passes "$passes" --expected "$work" "${names[@]}" \
    | tee "$work/assay.txt"

echo
printf '%-10s %14s %14s %8s\n' model "assay rows/s" "jpmml rows/s" ratio
for name in "${names[@]}"; do
    ours=$(sed -n "s/^pmml_${name}_rows_per_second=\([0-9.]*\).*/\1/p" "$work/assay.txt")
    theirs=$(sed -n "s/^jpmml ${name} rows_per_second=\([0-9]*\).*/\1/p" "$work/jpmml.txt")
    matching=$(sed -n "s/^pmml_${name}_rows_matching=\([0-9]*\).*/\1/p" "$work/assay.txt")
    awk -v n="$name" -v a="$ours" -v j="$theirs" -v m="$matching" 'BEGIN {
        note = (m > 0) ? "" : "  results differ from JPMML";
        printf "%-10s %14d %14d %7.1fx%s\n", n, a, j, (j > 0 ? a / j : 0), note }'
done
