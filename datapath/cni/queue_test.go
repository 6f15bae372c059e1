package cni

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// TestDrainQueue: a queued DEL is carried out; one of a container
// attached again after it was queued is skipped, so it never takes a
// live attachment; one that fails stays for the next start; what is not
// a queued DEL is left alone.
func TestDrainQueue(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ebpfnet.sock")
	dir := api.CNIDelQueueDir(sock)
	then := time.Now().Add(-time.Minute)
	f := &fakeControl{fail: map[string]error{}, eps: []api.Endpoint{
		{Name: "gone1", ContainerID: "gone1", State: "ready", Created: then.Add(-time.Hour),
			Interfaces: []api.Interface{{Network: "web", Name: "eth0"}}},
		{Name: "back1", ContainerID: "back1", State: "ready", Created: then.Add(time.Second),
			Interfaces: []api.Interface{{Network: "web", Name: "eth0"}}},
	}}
	s := New(f, noKernel{})
	for _, id := range []string{"gone1", "back1", "never1"} {
		if _, err := api.QueueCNIDel(sock, attach(id, "", "eth0", "web"), then); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not a DEL"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := s.DrainQueue(t.Context(), dir)
	slices.Sort(rep.Done)
	if !slices.Equal(rep.Done, []string{"gone1/eth0", "never1/eth0"}) || !slices.Equal(rep.Skipped, []string{"back1/eth0"}) ||
		len(rep.Failed) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if !slices.Equal(f.calls, []string{"remove gone1"}) {
		t.Errorf("calls %v, want only gone1 removed", f.calls)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 || left[0].Name() != "README" {
		t.Errorf("left in the queue: %v", left)
	}

	// A DEL that fails is kept, and carried out at a later start.
	if _, err := api.QueueCNIDel(sock, attach("gone1", "", "eth0", "web"), time.Now()); err != nil {
		t.Fatal(err)
	}
	f.calls, f.fail["endpoints"] = nil, errors.New("store unreadable")
	if rep := s.DrainQueue(t.Context(), dir); len(rep.Failed) != 1 || len(rep.Done) != 0 {
		t.Fatalf("with the store unreadable: %+v", rep)
	}
	delete(f.fail, "endpoints")
	if rep := s.DrainQueue(t.Context(), dir); !slices.Equal(rep.Done, []string{"gone1/eth0"}) {
		t.Fatalf("the kept DEL at the next start: %+v", rep)
	}
	if rep := s.DrainQueue(t.Context(), filepath.Join(dir, "nowhere")); len(rep.Failed)+len(rep.Done) != 0 {
		t.Errorf("no queue dir: %+v", rep)
	}
}
