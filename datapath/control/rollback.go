package control

import (
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/logf"
)

// leftBehind logs what a rollback could not undo, and what repairs it.
// Undoing the kernel's part (kernel) failing leaves devices or map entries
// the store does not hold: the next start's reconcile removes them.
// Undoing the store's part (stored) failing leaves the store holding what
// the kernel does not: the next start's reconcile creates it, or the user
// removes it.
func (c *Control) leftBehind(what string, kernel, stored error, fields ...zap.Field) {
	if kernel != nil {
		c.log.Error("rollback left kernel objects of "+what+" behind; the next start removes them",
			append(fields, logf.Err(kernel))...)
	}
	if stored != nil {
		c.log.Error("rollback left "+what+" in the store; the next start creates it again in the kernel",
			append(fields, logf.Err(stored))...)
	}
}
