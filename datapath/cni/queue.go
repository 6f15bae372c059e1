package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// QueueReport is what DrainQueue did with the DELs queued while no
// daemon ran.
type QueueReport struct {
	Done    []string // container/ifname, detached now
	Skipped []string // attached again after the DEL was queued
	Failed  []error  // kept for the next start
}

// DrainQueue carries out the DELs ebpfnet-cni queued while no daemon
// ran, oldest intent first being irrelevant: each is of one attachment.
// A DEL is skipped when its container's endpoint was made after it was
// queued (the runtime attached the container again), so a late DEL never
// takes a live attachment. Done and skipped entries are removed; a
// failed one stays for the next start.
func (s *Service) DrainQueue(ctx context.Context, dir string) QueueReport {
	var rep QueueReport
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			rep.Failed = append(rep.Failed, err)
		}
		return rep
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		q, err := readQueued(path)
		if err == nil {
			err = s.drainOne(ctx, q, &rep)
		}
		if err != nil {
			rep.Failed = append(rep.Failed, fmt.Errorf("%s: %w", e.Name(), err))
			continue
		}
		_ = os.Remove(path)
	}
	return rep
}

func readQueued(path string) (api.CNIQueuedDel, error) {
	var q api.CNIQueuedDel
	raw, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(raw, &q)
	}
	return q, err
}

func (s *Service) drainOne(ctx context.Context, q api.CNIQueuedDel, rep *QueueReport) error {
	id := q.Attach.ContainerID + "/" + q.Attach.Ifname
	s.mu.Lock()
	ep, err := s.find(ctx, q.Attach.ContainerID)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if ep != nil && ep.Created.After(q.Queued) {
		rep.Skipped = append(rep.Skipped, id)
		return nil
	}
	if err := s.Del(ctx, q.Attach); err != nil {
		return err
	}
	rep.Done = append(rep.Done, id)
	return nil
}
