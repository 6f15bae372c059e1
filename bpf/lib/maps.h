/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The maps the datapath shares with the daemon, and their key and value
 * types. Every map is pinned by name under the daemon's bpffs dir; the Go
 * side uses the bpf2go-generated mirrors of these structs. IPv4 addresses
 * are byte arrays in network order so `bpftool map dump` prints them as
 * [10,0,0,2]. */
#ifndef ENET_MAPS_H
#define ENET_MAPS_H

#include "common.h"

#define ENET_AF_INET 4

/* enet_endpoints: an endpoint address -> where to deliver it. The family
 * byte and the 16-byte address leave room for IPv6. */
struct ep_key {
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

struct endpoint {
	__u32 ifindex;		/* host-side veth: the bpf_redirect_peer target */
	__u32 net_id;
	__u8 mac[ETH_ALEN];	/* MAC of the interface inside the endpoint */
	__u16 pad;
};

/* enet_ifaces: host-side veth ifindex -> the endpoint interface behind it.
 * enet_from_ep checks every frame's source against this. */
struct iface {
	__u8 ip4[4];
	__u32 net_id;
	__u8 mac[ETH_ALEN];
	__u16 pad;
};

/* enet_networks: network id -> how its traffic is treated. */
struct network {
	__u8 subnet[4];
	__u32 prefixlen;
	__u8 gateway[4];
	__u32 bridge_ifindex;
	__u8 gateway_mac[ETH_ALEN];
	__u16 pad;
	enum network_flag flags;
};

/* enet_subnets: longest-prefix match of an address to its network. */
struct subnet_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct subnet {
	__u32 net_id;
};

/* enet_stats: per host interface and reason, packets and bytes. */
struct stats_key {
	__u32 ifindex;
	enum reason reason;
};

struct stats {
	__u64 packets;
	__u64 bytes;
};

/* enet_config: one entry, set by the daemon. */
struct config {
	enum config_flag flags;
	__u32 uplink_ifindex;	/* 0: no uplink, nothing leaves */
	__u8 snat_ip[4];	/* the uplink's address: masquerade source */
	__u16 port_min;		/* range for source ports that must change */
	__u16 port_max;
	/* Conntrack timeouts in seconds, named after netfilter's sysctls
	 * (nf_conntrack_tcp_timeout_syn_sent, ...) and with their defaults. */
	__u32 timeout_tcp_syn_sent;
	__u32 timeout_tcp_syn_recv;
	__u32 timeout_tcp_established;
	__u32 timeout_tcp_fin_wait;
	__u32 timeout_tcp_close_wait;
	__u32 timeout_tcp_last_ack;
	__u32 timeout_tcp_time_wait;
	__u32 timeout_tcp_close;
	__u32 timeout_tcp_unacknowledged;	/* picked up mid-stream, no reply yet */
	__u32 timeout_udp;
	__u32 timeout_udp_stream;	/* UDP replied and still going after 2 s */
	__u32 timeout_icmp;
	__u32 timeout_generic;	/* protocols without ports: GRE, ESP, ... */
	__u32 defrag_ifindex;	/* the node side of the helper namespace's veth, where
				 * the uplink's fragments that come before their first
				 * are reassembled (frag.h); 0: no helper */
	__u64 netns_cookie;	/* the daemon's netns: the socket programs act only there */
};

/* A flow's IPv4 tuple in the direction a packet travels. Ports are in host
 * order (so bpftool prints them as numbers); for an ICMP query the
 * identifier is sport in a request and dport in a reply; protocols without
 * ports have 0 in both. */
struct ct_key {
	__u8 saddr[4];
	__u8 daddr[4];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* A flow's state: netfilter's TCP states (nf_conntrack_proto_tcp.c), in
 * its order; CT_NEW for UDP and ICMP. */
enum ct_state {
	CT_NEW = 0,		/* TCP before its SYN; any other protocol unreplied */
	CT_SYN_SENT,		/* the originator's SYN */
	CT_SYN_RECV,		/* and the reply's SYN-ACK */
	CT_ESTABLISHED,		/* the handshake completed, or picked up mid-stream */
	CT_FIN_WAIT,		/* one side sent a FIN */
	CT_CLOSE_WAIT,		/* and the other acknowledged it: half closed */
	CT_LAST_ACK,		/* both sent a FIN, one is not acknowledged yet */
	CT_TIME_WAIT,		/* both FINs acknowledged */
	CT_CLOSE,		/* reset */
	CT_REPLIED,		/* a flow of another protocol than TCP, answered */
};

enum ct_flag {
	CT_F_SEEN_REPLY = 1 << 0,
	CT_F_HOST = 1 << 1,	/* the node's own flow, recorded to keep its port */
	CT_F_SNAT = 1 << 2,
	CT_F_DNAT = 1 << 3,
	CT_F_ASSURED = 1 << 4,	/* in enet_ct and enet_nat, not the _new maps */
};

/* Bits of struct ct_tcp_side.flags. */
enum ct_tcp_flag {
	CT_TCP_F_SEEN = 1 << 0,		/* end and maxwin hold what it sent */
	CT_TCP_F_WSCALE = 1 << 1,	/* its SYN offered window scaling */
	CT_TCP_F_FIN = 1 << 2,		/* it sent a FIN */
	CT_TCP_F_FIN_ACKED = 1 << 3,	/* which the other side acknowledged */
};

/* One side of a TCP flow as it sends, netfilter's ip_ct_tcp_state cut to
 * what tells a RST in the window from a blind one and a close from a
 * half close. */
struct ct_tcp_side {
	__u32 end;		/* sequence number after the last it sent (td_end) */
	__u32 maxwin;		/* the largest window it advertised, scaled (td_maxwin) */
	__u8 wscale;		/* its window scale shift */
	__u8 flags;		/* enum ct_tcp_flag */
	__u16 pad;
};

/* enet_ct: one entry per flow, keyed by its original tuple. */
struct ct_entry {
	__u64 created_ns;	/* CLOCK_MONOTONIC, as bpf_ktime_get_ns */
	__u64 expires_ns;	/* the flow is dead after this */
	__u64 packets_orig;
	__u64 bytes_orig;
	__u64 packets_reply;
	__u64 bytes_reply;
	enum ct_state state;
	enum ct_flag flags;
	__u32 ifindex;		/* endpoint's host veth; 0 for the node's flows */
	struct ct_key reply;	/* the reply tuple: key of the reverse NAT entry */
	struct ct_tcp_side tcp[2];	/* TCP: the originator, the replier */
};

enum nat_flag {
	NAT_F_REPLY = 1 << 0,	/* the entry translates replies */
	NAT_F_HOST = 1 << 1,	/* after translation the packet is the node's */
};

/* enet_nat: two entries per flow, one per direction, keyed by the tuple a
 * packet has when it arrives; the value is the tuple it leaves with. */
struct nat_entry {
	/* The created_ns of the flow's enet_ct entry: which life of a tuple
	 * the entry belongs to, so the GC removes a dead flow's entries and
	 * never those of a new flow that took the same tuples. */
	__u64 created_ns;
	struct ct_key to;
	struct ct_key flow;	/* the flow's enet_ct key */
	enum nat_flag flags;
	__u32 pad;
};

/* enet_prefilter: source prefixes enet_xdp_up drops, each with what it
 * dropped (updated atomically: an LPM trie has no per-CPU values). */
struct prefilter {
	__u64 packets;
	__u64 bytes;
};

/* enet_events records, when tracing is on. The programs also carry one as
 * the description of the packet at hand while they decide. */
struct event {
	__u64 ts_ns;
	__u32 ifindex;		/* where the program ran; a flow's endpoint veth */
	__u32 target;		/* redirect target ifindex, 0 if none */
	enum reason reason;
	__u32 len;
	__u16 ethertype;	/* host order */
	__u8 proto;
	__u8 kind;		/* enum event_kind */
	__u8 saddr[4];		/* the packet (the flow) as it came */
	__u8 daddr[4];
	__u32 build;		/* build_id of the program that wrote it */
	__u16 sport;		/* host order, as in struct ct_key; ICMP: the id */
	__u16 dport;
	__u8 xsaddr[4];		/* as translated, with EVENT_F_XLATED */
	__u8 xdaddr[4];
	__u16 xsport;
	__u16 xdport;
	__u8 hook;		/* enum event_hook */
	__u8 wanted;		/* the daemon wants events: fill in what they show */
	__u16 flags;		/* enum event_flag */
	__u32 ct_flags;		/* EVENT_FLOW: the flow's enum ct_flag */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ep_key);
	__type(value, struct endpoint);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct iface);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct network);
	__uint(max_entries, 4096);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_networks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct subnet_key);
	__type(value, struct subnet);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_subnets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct subnet_key);
	__type(value, struct prefilter);
	__uint(max_entries, 100000);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_prefilter SEC(".maps");

/* Sizes are set by the daemon (--ct-max, --nat-max) before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(max_entries, 262144);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct_key);
	__type(value, struct nat_entry);
	__uint(max_entries, 524288);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_nat SEC(".maps");

/* enet_frags: an IPv4 datagram in fragments, by where its fragments come
 * in and the fields they all carry -> the ports its first fragment had,
 * for the later ones, which carry none (bpf/lib/frag.h). */
struct frag_key {
	__u8 saddr[4];
	__u8 daddr[4];
	__u32 ifindex;		/* the interface the fragments arrive on */
	__u16 id;		/* IP identification, host order */
	__u8 proto;
	__u8 pad;
};

enum frag_flag {
	FRAG_F_CONFLICT = 1 << 0,	/* two first fragments with other ports: the
					 * datagram is dropped, as the kernel drops
					 * overlapping fragments */
	FRAG_F_DETOURED = 1 << 1,	/* a later fragment came first: the datagram's
					 * fragments go to the helper namespace to be
					 * reassembled; no ports are known */
};

struct frag_entry {
	__u64 expires_ns;	/* CLOCK_MONOTONIC, as bpf_ktime_get_ns */
	__u16 sport;		/* the first fragment's tuple ports, host order */
	__u16 dport;
	__u8 tcp_flags;		/* and its TCP flags, so later fragments move no state */
	__u8 pad[3];
	enum frag_flag flags;
	__u32 seen;		/* payload bytes of the fragments seen so far */
	__u32 total;		/* the datagram's payload bytes, once its last
				 * fragment came; 0 before */
	__u32 pad2;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct frag_key);
	__type(value, struct frag_entry);
	__uint(max_entries, 8192);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_frags SEC(".maps");

/* The flows not assured yet (unreplied, in their handshake, ICMP) and the
 * TCP flows that have closed live in maps of their own, with the same
 * layout, so that a flood of them (a port scan, a SYN flood) evicts its
 * own kind and never an assured flow, as netfilter's early_drop spares
 * assured connections. Sizes follow enet_ct's and enet_nat's (loader). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(max_entries, 65536);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_ct_new SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct_key);
	__type(value, struct nat_entry);
	__uint(max_entries, 131072);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_nat_new SEC(".maps");

/* enet_ports: a published port -> the endpoint port it leads to. addr
 * 0.0.0.0 is a port published on every address. */
struct port_key {
	__u8 proto;
	__u8 pad;
	__u16 port;		/* host order */
	__u8 addr[4];
};

struct port_target {
	__u8 addr[4];
	__u16 port;		/* host order */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct port_key);
	__type(value, struct port_target);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_ports SEC(".maps");

/* enet_node_addrs: every IPv4 address of the node's devices, kept by the
 * daemon from netlink: where a port published on every address answers. */
struct node_addr_key {
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct node_addr_key);
	__type(value, __u32);	/* ifindex of a device that has it */
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_node_addrs SEC(".maps");

/* enet_sock_rev: what a node socket connected or sent to before the
 * socket programs rewrote it, so replies and getpeername show it. */
struct sock_rev_key {
	__u64 cookie;		/* the socket's */
	__u8 addr[4];		/* the endpoint it was rewritten to */
	__u16 port;		/* host order */
	__u8 proto;
	__u8 pad;
};

struct sock_rev {
	__u8 addr[4];
	__u16 port;		/* host order */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct sock_rev_key);
	__type(value, struct sock_rev);
	__uint(max_entries, 65536);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_sock_rev SEC(".maps");

/* The port the daemon's resolvers listen on, on each network's gateway:
 * not 53, which a user may publish on every address of the node (a DNS
 * server's container) without shadowing the networks' names. Endpoints
 * ask 127.0.0.11:53, which the socket programs send here. Go's copy is
 * maps.DNSResolverPort; the BPF tests ask at that one. */
#define DNS_RESOLVER_PORT 10053

/* enet_dns_ns: an endpoint's network namespace, by netns cookie -> the
 * resolver its sockets reach at Docker's 127.0.0.11:53 (its network's
 * gateway, port DNS_RESOLVER_PORT, where the daemon serves DNS). The
 * socket programs rewrite only in the namespaces the daemon put here. */
struct dns_ns {
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct dns_ns);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_dns_ns SEC(".maps");

/* enet_dns_rev: enet_sock_rev's twin for the endpoints' queries to
 * 127.0.0.11:53. A resolver library opens a socket per lookup: in a map
 * of their own, a busy endpoint's lookups evict one another, never the
 * node's long-lived sockets to published ports. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct sock_rev_key);
	__type(value, struct sock_rev);
	__uint(max_entries, 65536);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_dns_rev SEC(".maps");

/* enet_dns_names: the A records of the networks' names and aliases, as
 * the daemon's resolver serves them, so that enet_from_ep answers an
 * endpoint's plain query for one itself (dns.h). The name is in wire
 * format (length-prefixed labels, the root's zero last), lower case,
 * zero-padded; a name longer, or with more addresses, is the resolver's
 * alone. */
#define DNS_NAME_MAX 128
#define DNS_ADDRS_MAX 8

struct dns_key {
	__u32 net_id;
	__u8 name[DNS_NAME_MAX];
};

struct dns_rrset {
	__u32 count;		/* addresses, 1 to DNS_ADDRS_MAX */
	__u32 turn;		/* which answers first next: round robin */
	__u8 addrs[DNS_ADDRS_MAX][4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct dns_key);
	__type(value, struct dns_rrset);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_dns_names SEC(".maps");

/* enet_dns_scratch: the name of the query being answered, too large for
 * the stack beside the rest of enet_from_ep's. Per CPU, not pinned. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct dns_key);
	__uint(max_entries, 1);
} enet_dns_scratch SEC(".maps");

/* enet_scratch: room for building entries too large for the 512-byte
 * BPF stack. Per CPU, not pinned. */
struct flow_scratch {
	struct ct_entry ct;
	struct nat_entry fwd;
	struct nat_entry rev;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct flow_scratch);
	__uint(max_entries, 1);
} enet_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct stats_key);
	__type(value, struct stats);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct config);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enet_events SEC(".maps");

#endif
