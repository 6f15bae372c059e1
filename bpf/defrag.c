// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* enet_defrag: a netfilter program at PREROUTING of the daemon's helper
 * namespace (bpf/lib/frag.h), in an object of its own, loaded only where
 * the kernel has netfilter links (6.4; their defragmentation flag, 6.6).
 * It accepts every packet: attached with BPF_F_NETFILTER_IP_DEFRAG, it has
 * the kernel reassemble IPv4 fragments before it runs, which is all the
 * helper needs, and no iptables or nftables rule has to ask for it. */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NF_ACCEPT 1

SEC("netfilter")
int enet_defrag(void *ctx)
{
	return NF_ACCEPT;
}

char __license[] SEC("license") = "Dual BSD/GPL";
