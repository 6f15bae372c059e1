package monitor

import "github.com/ebpfnet/ebpfnet/datapath/errdefs"

func errInvalid(format string, args ...any) error { return errdefs.Invalid(format, args...) }
