/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Lookups of an address in the maps that say where it belongs: the
 * endpoint that has it, the network whose subnet holds it. */
#ifndef ENET_LOOKUP_H
#define ENET_LOOKUP_H

#include "common.h"
#include "ipv4.h"
#include "maps.h"

static __always_inline struct endpoint *lookup_endpoint(__be32 addr)
{
	struct ep_key key = { .family = ENET_AF_INET };

	ipv4_store(key.addr, addr);
	return bpf_map_lookup_elem(&enet_endpoints, &key);
}

static __always_inline struct subnet *lookup_subnet(__be32 addr)
{
	struct subnet_key key = { .prefixlen = 32 };

	ipv4_store(key.addr, addr);
	return bpf_map_lookup_elem(&enet_subnets, &key);
}

#endif
