// Package loader loads the datapath object, pins its maps, and attaches its
// programs to interfaces (tcx, with legacy tc as the fallback).
package loader

// The committed output is checked against these lines by `make
// check-generate`. The helper namespace's netfilter program is an object
// of its own (defrag), so a kernel without netfilter programs loads the
// rest.
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -cflags "-O2 -g -Wall -Werror" -target bpfel -type reason -type config_flag -type network_flag -type event -type ct_state -type ct_flag -type ct_tcp_side -type nat_flag -type frag_flag -type port_key -type sock_rev_key Enet ../bpf/ebpfnet.c -- -I../bpf/include
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -cflags "-O2 -g -Wall -Werror" -target bpfel defrag ../bpf/defrag.c -- -I../bpf/include
