package maps

import (
	"errors"

	"github.com/cilium/ebpf"
)

func ignoreNotExist(err error) error {
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}

func ignoreExist(err error) error {
	if errors.Is(err, ebpf.ErrKeyExist) {
		return nil
	}
	return err
}
