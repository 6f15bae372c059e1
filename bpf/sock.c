// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* enet_sock_*: cgroup socket hooks for the node's own connections to
 * published ports (127.0.0.1:PORT, <uplink address>:PORT) and endpoints'
 * DNS queries to 127.0.0.11:53. */

#include "lib/common.h"
#include "lib/sock.h"

SEC("cgroup/connect4")
int enet_sock_conn4(struct bpf_sock_addr *ctx)
{
	return sock_out(ctx);
}

SEC("cgroup/sendmsg4")
int enet_sock_send4(struct bpf_sock_addr *ctx)
{
	return sock_out(ctx);
}

SEC("cgroup/recvmsg4")
int enet_sock_recv4(struct bpf_sock_addr *ctx)
{
	return sock_in(ctx);
}

SEC("cgroup/getpeername4")
int enet_sock_peer4(struct bpf_sock_addr *ctx)
{
	return sock_in(ctx);
}
