/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Published ports: enet_ports, looked up by the address and port a
 * packet (or a node socket) is sent to. */
#ifndef ENET_PORTS_H
#define ENET_PORTS_H

#include "common.h"
#include "maps.h"

/* port_lookup finds the publication of (proto, addr, port). A port
 * published on every address (0.0.0.0) answers on any address the caller
 * says is the node's (is_node). */
__inline struct port_target *port_lookup(__u8 proto, __be32 addr, __u16 port, int is_node)
{
	struct port_key key = { .proto = proto, .port = port };
	struct port_target *p;

	v4_store(key.addr, addr);
	p = bpf_map_lookup_elem(&enet_ports, &key);
	if (p || !is_node)
		return p;
	v4_store(key.addr, 0);
	return bpf_map_lookup_elem(&enet_ports, &key);
}

#endif
