/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Published ports: enet_ports, looked up by the address and port a
 * packet (or a node socket) is sent to. */
#ifndef ENET_PORTS_H
#define ENET_PORTS_H

#include "common.h"
#include "ipv4.h"
#include "maps.h"

/* ports_node_addr: an address of one of the node's devices
 * (enet_node_addrs). */
static __always_inline int ports_node_addr(__be32 addr)
{
	struct node_addr_key key;

	ipv4_store(key.addr, addr);
	return bpf_map_lookup_elem(&enet_node_addrs, &key) != NULL;
}

/* ports_lookup finds the publication of (proto, addr, port). A port
 * published on every address (0.0.0.0) answers on every address of the
 * node: those the caller knows are the node's (is_node) and those
 * enet_node_addrs holds, looked up only when needed. An SCTP publication
 * leads to the same port only: a new port would need the packet's CRC32c
 * recomputed, which the datapath does not do, and the daemon writes no
 * other. */
static __always_inline struct port_target *ports_lookup(__u8 proto, __be32 addr, __u16 port, int is_node)
{
	struct port_key key = { .proto = proto, .port = port };
	struct port_target *p;

	ipv4_store(key.addr, addr);
	p = bpf_map_lookup_elem(&enet_ports, &key);
	if (!p) {
		if (!is_node && !ports_node_addr(addr))
			return NULL;
		ipv4_store(key.addr, 0);
		p = bpf_map_lookup_elem(&enet_ports, &key);
	}
	if (p && proto == IPPROTO_SCTP && p->port != port)
		return NULL;
	return p;
}

/* ports_lookup_pkt is ports_lookup for a packet the programs see on a
 * device. Only the node's own sockets reach a loopback address (the kernel
 * drops one arriving on any other device as a martian), so such a packet
 * is forged and finds no publication: a port published on 127.0.0.1 stays
 * out of reach of the outside and of endpoints, as Docker drops them. */
static __always_inline struct port_target *ports_lookup_pkt(__u8 proto, __be32 addr, __u16 port, int is_node)
{
	if (ipv4_is_loopback(addr))
		return NULL;
	return ports_lookup(proto, addr, port, is_node);
}

#endif
