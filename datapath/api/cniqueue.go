package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// A DEL the daemon could not take because none was running is queued
// for it, as Cilium's plugin queues one: the runtime gets its success
// (kubelet would otherwise retry, and a pod's deletion wait, until the
// daemon is back), and the daemon carries the DEL out as it starts.

// CNIQueuedDel is one queued DEL.
type CNIQueuedDel struct {
	Attach CNIAttach `json:"attach"`
	Queued time.Time `json:"queued"`
}

// CNIDelQueueDir is the queue of the daemon listening on socket: beside
// the socket, in a dir only root may write.
func CNIDelQueueDir(socket string) string {
	return filepath.Join(filepath.Dir(socket), "cni-del-queue")
}

// QueueCNIDel writes a DEL into the queue of the daemon on socket, one
// file per attachment, replaced by a later DEL of the same one.
func QueueCNIDel(socket string, req CNIAttach, now time.Time) (string, error) {
	dir := CNIDelQueueDir(socket)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("queue the DEL: %w", err)
	}
	raw, err := json.Marshal(CNIQueuedDel{Attach: req, Queued: now.UTC()})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(req.ContainerID + "\x00" + req.Ifname + "\x00" + req.Network))
	path := filepath.Join(dir, hex.EncodeToString(sum[:16])+".json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return "", fmt.Errorf("queue the DEL: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("queue the DEL: %w", err)
	}
	return path, nil
}
