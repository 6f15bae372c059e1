/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The daemon's settings for the datapath. */
#ifndef ENET_CONFIG_H
#define ENET_CONFIG_H

#include "common.h"
#include "maps.h"

__inline struct config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&enet_config, &zero);
}

#endif
