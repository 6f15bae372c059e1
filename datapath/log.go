package datapath

import "go.uber.org/zap"

// Field constructors, so every log line names things the same way.
func zapNet(name string) zap.Field     { return zap.String("network", name) }
func zapEp(name string) zap.Field      { return zap.String("endpoint", name) }
func zapIf(name string) zap.Field      { return zap.String("interface", name) }
func zapErr(err error) zap.Field       { return zap.Error(err) }
func zapStr(k, v string) zap.Field     { return zap.String(k, v) }
func zapInt(k string, v int) zap.Field { return zap.Int(k, v) }
