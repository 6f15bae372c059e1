#!/usr/bin/env bash
# Proves the lint guards the package graph: a file that imports what its
# package must not (cmd importing maps) makes golangci-lint fail, naming
# depguard. Run by `make lint` after the real lint passed.
set -euo pipefail
cd "$(dirname "$0")/.."
lint=$1
probe=cmd/ebpfnet/zz_depguard_probe.go
trap 'rm -f "$probe"' EXIT
cat >"$probe" <<'GO'
package main

import "github.com/ebpfnet/ebpfnet/maps"

var _ = maps.ProtoName
GO
if out=$("$lint" run --config .ci/golangci.yml ./cmd/... 2>&1); then
	echo "check-depguard: golangci-lint passed a forbidden import (cmd -> maps)"
	exit 1
fi
if ! grep -q 'depguard' <<<"$out"; then
	echo "check-depguard: golangci-lint failed, but not on depguard:"
	echo "$out"
	exit 1
fi
echo "check-depguard: a forbidden import (cmd -> maps) fails the lint"
