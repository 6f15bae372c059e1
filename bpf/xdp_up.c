// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* enet_xdp_up: XDP on the uplink. Early drops only (lib/xdp.h). */

#include "lib/common.h"
#include "lib/xdp.h"

SEC("xdp.frags")
int enet_xdp_up(struct xdp_md *ctx)
{
	return xdp_up(ctx);
}
