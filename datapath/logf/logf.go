// Package logf holds the zap fields the control plane logs with, so every
// line names the same things with the same keys.
package logf

import "go.uber.org/zap"

// Keys of the fields.
const (
	KeyNetwork   = "network"
	KeyEndpoint  = "endpoint"
	KeyInterface = "interface"
)

// Net names a network.
func Net(name string) zap.Field { return zap.String(KeyNetwork, name) }

// Ep names an endpoint.
func Ep(name string) zap.Field { return zap.String(KeyEndpoint, name) }

// If names a device.
func If(name string) zap.Field { return zap.String(KeyInterface, name) }

// Err is the error.
func Err(err error) zap.Field { return zap.Error(err) }

// Str is any other string field.
func Str(k, v string) zap.Field { return zap.String(k, v) }

// Int is any other number.
func Int(k string, v int) zap.Field { return zap.Int(k, v) }

// Strs is a list of strings.
func Strs(k string, v []string) zap.Field { return zap.Strings(k, v) }
