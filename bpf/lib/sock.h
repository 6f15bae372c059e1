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
#include "maps.h"
#include "ports.h"

#define SOCK_ALLOW 1
#define SOCK_STREAM 1
#define SOCK_DGRAM 2

/* sock_ours is true for a socket in the daemon's namespace. */
__inline int sock_ours(struct bpf_sock_addr *ctx, const struct config *cfg)
{
	return cfg && cfg->netns_cookie && bpf_get_netns_cookie(ctx) == cfg->netns_cookie;
}

__inline __u8 sock_proto(const struct bpf_sock_addr *ctx)
{
	return ctx->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
}

/* sock_is_node: where a port published on every address answers for the
 * node's own sockets: loopback and the uplink's address. */
__inline int sock_is_node(__be32 addr, const struct config *cfg)
{
	return (addr & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000) || addr == v4_load(cfg->snat_ip);
}

/* sock_to_endpoint rewrites the address a socket connects or sends to if
 * it is a published port, and remembers the original for the replies. */
__inline int sock_to_endpoint(struct bpf_sock_addr *ctx)
{
	const struct config *cfg = config_get();
	struct sock_rev_key key = {};
	struct sock_rev orig = {};
	struct port_target *port;
	__be32 addr;
	__u16 dport;
	__u8 proto;

	if (!sock_ours(ctx, cfg))
		return SOCK_ALLOW;
	if (ctx->type != SOCK_STREAM && ctx->type != SOCK_DGRAM)
		return SOCK_ALLOW;
	addr = ctx->user_ip4;
	dport = bpf_ntohs((__u16)ctx->user_port);
	proto = sock_proto(ctx);
	port = port_lookup(proto, addr, dport, sock_is_node(addr, cfg));
	if (!port)
		return SOCK_ALLOW;
	key.cookie = bpf_get_socket_cookie(ctx);
	__builtin_memcpy(key.addr, port->addr, 4);
	key.port = port->port;
	key.proto = proto;
	v4_store(orig.addr, addr);
	orig.port = dport;
	bpf_map_update_elem(&enet_sock_rev, &key, &orig, BPF_ANY);
	ctx->user_ip4 = v4_load(port->addr);
	ctx->user_port = bpf_htons(port->port);
	return SOCK_ALLOW;
}

/* sock_from_endpoint shows a reply's source, or the peer, as the address
 * the socket was given rather than the endpoint's. */
__inline int sock_from_endpoint(struct bpf_sock_addr *ctx)
{
	const struct config *cfg = config_get();
	struct sock_rev_key key = {};
	struct sock_rev *orig;

	if (!sock_ours(ctx, cfg))
		return SOCK_ALLOW;
	if (ctx->type != SOCK_STREAM && ctx->type != SOCK_DGRAM)
		return SOCK_ALLOW;
	key.cookie = bpf_get_socket_cookie(ctx);
	v4_store(key.addr, ctx->user_ip4);
	key.port = bpf_ntohs((__u16)ctx->user_port);
	key.proto = sock_proto(ctx);
	orig = bpf_map_lookup_elem(&enet_sock_rev, &key);
	if (!orig)
		return SOCK_ALLOW;
	ctx->user_ip4 = v4_load(orig->addr);
	ctx->user_port = bpf_htons(orig->port);
	return SOCK_ALLOW;
}

#endif
