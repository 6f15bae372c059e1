/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The node's own connections to published ports, rewritten at the socket
 * (cgroup connect4/sendmsg4/recvmsg4/getpeername4) instead of per packet
 * and without a proxy process. These programs run for every process on
 * the machine: they always allow the call (return 1) and change nothing
 * outside the daemon's own network namespace. */
#ifndef ENET_SOCK_H
#define ENET_SOCK_H

#include "common.h"
#include "config.h"
#include "ipv4.h"
#include "lookup.h"
#include "maps.h"
#include "ports.h"

#define SOCK_ALLOW 1

/* sock_ours is true for a socket in the daemon's namespace. */
static __always_inline int sock_ours(struct bpf_sock_addr *ctx, const struct config *cfg)
{
	return cfg && cfg->netns_cookie && bpf_get_netns_cookie(ctx) == cfg->netns_cookie;
}

/* sock_proto is the protocol of the publications a socket may reach, or
 * 0. The socket type does not tell: a ping socket is SOCK_DGRAM too. */
static __always_inline __u8 sock_proto(const struct bpf_sock_addr *ctx)
{
	if (ctx->protocol == IPPROTO_TCP || ctx->protocol == IPPROTO_UDP)
		return ctx->protocol;
	return 0;
}

/* sock_is_node: addresses known to be the node's without a lookup:
 * loopback and the uplink's. ports_lookup finds the others. */
static __always_inline int sock_is_node(__be32 addr, const struct config *cfg)
{
	return ipv4_is_loopback(addr) || addr == ipv4_load(cfg->snat_ip);
}

/* sock_to_endpoint rewrites the address a socket connects or sends to if
 * it is a published port, and remembers the original for the replies. */
static __always_inline int sock_to_endpoint(struct bpf_sock_addr *ctx)
{
	const struct config *cfg = config_get();
	struct sock_rev_key key = {};
	struct sock_rev orig = {};
	struct port_target *port;
	__be32 addr;
	__u16 dport;
	__u8 proto;

	proto = sock_proto(ctx);
	if (!proto || !sock_ours(ctx, cfg))
		return SOCK_ALLOW;
	addr = ctx->user_ip4;
	dport = bpf_ntohs((__u16)ctx->user_port);
	port = ports_lookup(proto, addr, dport, sock_is_node(addr, cfg));
	/* With its endpoint gone the port is the node's, which refuses it. */
	if (!port || !lookup_endpoint(ipv4_load(port->addr)))
		return SOCK_ALLOW;
	key.cookie = bpf_get_socket_cookie(ctx);
	__builtin_memcpy(key.addr, port->addr, 4);
	key.port = port->port;
	key.proto = proto;
	ipv4_store(orig.addr, addr);
	orig.port = dport;
	bpf_map_update_elem(&enet_sock_rev, &key, &orig, BPF_ANY);
	ctx->user_ip4 = ipv4_load(port->addr);
	ctx->user_port = bpf_htons(port->port);
	return SOCK_ALLOW;
}

/* sock_from_endpoint shows a reply's source, or the peer, as the address
 * the socket was given rather than the endpoint's. */
static __always_inline int sock_from_endpoint(struct bpf_sock_addr *ctx)
{
	const struct config *cfg = config_get();
	struct sock_rev_key key = {};
	struct sock_rev *orig;

	key.proto = sock_proto(ctx);
	if (!key.proto || !sock_ours(ctx, cfg))
		return SOCK_ALLOW;
	key.cookie = bpf_get_socket_cookie(ctx);
	ipv4_store(key.addr, ctx->user_ip4);
	key.port = bpf_ntohs((__u16)ctx->user_port);
	orig = bpf_map_lookup_elem(&enet_sock_rev, &key);
	if (!orig)
		return SOCK_ALLOW;
	ctx->user_ip4 = ipv4_load(orig->addr);
	ctx->user_port = bpf_htons(orig->port);
	return SOCK_ALLOW;
}

#endif
