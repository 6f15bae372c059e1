#!/usr/bin/env bash
# Refreshes the vendored headers from the Debian packages they come from
# (see README.md), keeping exactly the files the datapath includes.
# Run it after a change to bpf/ includes a new uapi header, then `make generate`.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
dpkg -s libbpf-dev linux-libc-dev >/dev/null 2>&1 || apt-get install -y -qq libbpf-dev linux-libc-dev >/dev/null
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)

# What ebpfnet.c pulls in from the system's include dirs, asked of clang
# itself: every header under /usr/include it reads when compiled without
# the vendored copies.
mapfile -t used < <(clang-19 -target bpfel -I /usr/include/"$arch" -M ../ebpfnet.c |
	tr ' \\' '\n\n' | grep '^/usr/include/' | sort -u)
find bpf linux asm asm-generic -name '*.h' -delete 2>/dev/null || true
for f in "${used[@]}"; do
	rel=${f#/usr/include/}
	rel=${rel#"$arch"/}
	mkdir -p "$(dirname "$rel")"
	cp "$f" "$rel"
done
find . -type d -empty -delete
echo "vendored ${#used[@]} headers from libbpf-dev $(dpkg-query -W -f '${Version}' libbpf-dev)" \
	"and linux-libc-dev $(dpkg-query -W -f '${Version}' linux-libc-dev)"
