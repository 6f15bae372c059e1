#!/usr/bin/env bash
# Regenerates the bpf2go output and fails if it differs from what is
# committed: the object in loader/ must be the one bpf/ compiles to.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-19 >/dev/null; then
	echo "check-generate: clang-19 not found, skipped"
	exit 0
fi
files=(loader/enet_bpfel.go loader/enet_bpfel.o loader/defrag_bpfel.go loader/defrag_bpfel.o)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "${files[@]}" "$tmp/"
go generate ./loader
for f in "${files[@]}"; do
	if ! cmp -s "$f" "$tmp/$(basename "$f")"; then
		echo "check-generate: generated files are not up to date: $f differs from what bpf/ compiles to"
		echo "run 'make generate' and commit the result"
		exit 1
	fi
done
echo "check-generate: bpf2go output matches bpf/"
