// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* The whole datapath as one object: one entry file per hook, compiled
 * together so every program shares the same maps and bpf2go emits one set
 * of Go types. The netfilter program of the helper namespace is an object
 * of its own (defrag.c), loaded only where the kernel has such programs. */

#include "from_ep.c"
#include "from_up.c"
#include "to_up.c"
#include "to_br.c"
#include "from_dfrg.c"
#include "sock.c"
#include "xdp_up.c"

char __license[] SEC("license") = "Dual BSD/GPL";
