/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The daemon's settings for the datapath. */
#ifndef ENET_CONFIG_H
#define ENET_CONFIG_H

#include "common.h"
#include "maps.h"

/* build_id tells programs of one ebpfnet build from another's: set at
 * load time from the binary (loader.BuildID), it shows in trace events,
 * and two builds' programs differ even when their source does not. */
volatile const __u32 build_id = 0;

static __always_inline struct config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&enet_config, &zero);
}

#endif
