#!/usr/bin/env bash
# test-ratio.sh prints, per Go package directory, the lines of *_test.go against the lines of the other .go files,
# as a Markdown table (the README's development section carries its output). A production package without a test
# file is marked "no tests"; the helpers integration tests import (packages named *test) are marked as such.
set -euo pipefail
cd "$(dirname "$0")/.."
printf '| package | code lines | test lines | tests/code |\n|---|---:|---:|---:|\n'
find . -name '*.go' -not -path './.cache/*' -not -path './.run/*' -printf '%h\n' | sort -u | while read -r dir; do
	code=$(find "$dir" -maxdepth 1 -name '*.go' -not -name '*_test.go' -exec cat {} + 2>/dev/null | wc -l)
	tests=$(find "$dir" -maxdepth 1 -name '*_test.go' -exec cat {} + 2>/dev/null | wc -l)
	pkg=${dir#./}
	[ "$pkg" = . ] && pkg='(root)'
	if [ "${pkg%test}" != "$pkg" ]; then
		ratio='test helpers'
	elif [ "$code" -eq 0 ]; then
		ratio='tests only'
	elif [ "$tests" -eq 0 ]; then
		ratio='**no tests**'
	else
		ratio=$(awk -v t="$tests" -v c="$code" 'BEGIN { printf "%.2f", t / c }')
	fi
	printf '| %s | %d | %d | %s |\n' "$pkg" "$code" "$tests" "$ratio"
done
