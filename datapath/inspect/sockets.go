package inspect

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/loader"
)

// socketPrograms lists the socket programs' pinned cgroup links, with the
// cgroup each is on: the daemon's when its inode is the link's cgroup id
// (a link pinned by an earlier start may be on another).
func (in *Inspector) socketPrograms() []api.SocketProgram {
	links, err := in.dp.CgroupLinks()
	if err != nil {
		in.log.Warn("list cgroup links", logf.Err(err))
	}
	dir, ino := in.cgroup()
	out := []api.SocketProgram{}
	for _, l := range links {
		p := api.SocketProgram{Name: loader.ProgramName(l.ProgID), ID: uint32(l.ProgID), Hook: l.Name,
			AttachType: l.Attach.String(), CgroupID: l.CgroupID, Cgroup: fmt.Sprintf("cgroup id %d", l.CgroupID)}
		if ino != 0 && ino == l.CgroupID {
			p.Cgroup = dir
		}
		out = append(out, p)
	}
	return out
}

// cgroup is the daemon's cgroup for the socket programs and its inode,
// which is the kernel's cgroup id; 0 if it cannot be read.
func (in *Inspector) cgroup() (string, uint64) {
	dir := in.daemon.Cgroup
	if dir == "" {
		var err error
		if dir, err = loader.Cgroup2Root(); err != nil {
			return "", 0
		}
	}
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil {
		return dir, 0
	}
	return dir, st.Ino
}
