/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Published ports: enet_ports, looked up by the address and port a
 * packet (or a node socket) is sent to. */
#ifndef ENET_PORTS_H
#define ENET_PORTS_H

#include "common.h"
#include "ipv4.h"
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

/* port_lookup_pkt is port_lookup for a packet the programs see on a
 * device. Only the node's own sockets reach a loopback address (the kernel
 * drops one arriving on any other device as a martian), so such a packet
 * is forged and finds no publication: a port published on 127.0.0.1 stays
 * out of reach of the outside and of endpoints, as Docker drops them. */
__inline struct port_target *port_lookup_pkt(__u8 proto, __be32 addr, __u16 port, int is_node)
{
	if (ipv4_is_loopback(addr))
		return NULL;
	return port_lookup(proto, addr, port, is_node);
}

#endif
