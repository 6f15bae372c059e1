// Package store keeps ebpfnet's desired state in a bbolt file. Every change
// the API makes is one transaction.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

const fileName = "ebpfnet.db"

var (
	bucketNetworks  = []byte("networks")
	bucketEndpoints = []byte("endpoints")
	bucketPorts     = []byte("ports")
	buckets         = [][]byte{bucketNetworks, bucketEndpoints, bucketPorts}
)

// ErrLocked is returned by Open when another process holds the store.
var ErrLocked = errors.New("store is in use by another process")

// Store is the open state file.
type Store struct {
	db *bolt.DB
}

// Path is the state file under a state dir.
func Path(stateDir string) string {
	return filepath.Join(stateDir, fileName)
}

// Open opens (creating if needed) the store under stateDir. It holds an
// exclusive lock until Close, so a second daemon on the same dir fails fast.
func Open(stateDir string) (*Store, error) {
	db, err := bolt.Open(Path(stateDir), 0o600, &bolt.Options{Timeout: 300 * time.Millisecond})
	if errors.Is(err, bolterr.ErrTimeout) {
		return nil, ErrLocked
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", Path(stateDir), err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("init store: %w", err), db.Close())
	}
	return &Store{db: db}, nil
}

// Close releases the file and its lock.
func (s *Store) Close() error {
	return s.db.Close()
}

// Tx is a transaction with typed accessors.
type Tx struct {
	tx *bolt.Tx
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx}) })
}

// Update runs fn in a read-write transaction, committed only if fn
// returns nil.
func (s *Store) Update(fn func(*Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx}) })
}

func get[T any](tx *Tx, bucket []byte, name string) (*T, error) {
	raw := tx.tx.Bucket(bucket).Get([]byte(name))
	if raw == nil {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("decode %s/%s: %w", bucket, name, err)
	}
	return v, nil
}

func put(tx *Tx, bucket []byte, name string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, name, err)
	}
	return tx.tx.Bucket(bucket).Put([]byte(name), raw)
}

func list[T any](tx *Tx, bucket []byte) ([]T, error) {
	var out []T
	err := tx.tx.Bucket(bucket).ForEach(func(k, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("decode %s/%s: %w", bucket, k, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// Network returns the named network, or nil.
func (tx *Tx) Network(name string) (*Network, error) { return get[Network](tx, bucketNetworks, name) }

// Networks lists every network, ordered by name.
func (tx *Tx) Networks() ([]Network, error) { return list[Network](tx, bucketNetworks) }

// PutNetwork creates or replaces a network.
func (tx *Tx) PutNetwork(n *Network) error { return put(tx, bucketNetworks, n.Name, n) }

// DeleteNetwork removes a network.
func (tx *Tx) DeleteNetwork(name string) error {
	return tx.tx.Bucket(bucketNetworks).Delete([]byte(name))
}

// Endpoint returns the named endpoint, or nil.
func (tx *Tx) Endpoint(name string) (*Endpoint, error) {
	return get[Endpoint](tx, bucketEndpoints, name)
}

// Endpoints lists every endpoint, ordered by name.
func (tx *Tx) Endpoints() ([]Endpoint, error) { return list[Endpoint](tx, bucketEndpoints) }

// PutEndpoint creates or replaces an endpoint.
func (tx *Tx) PutEndpoint(e *Endpoint) error { return put(tx, bucketEndpoints, e.Name, e) }

// DeleteEndpoint removes an endpoint.
func (tx *Tx) DeleteEndpoint(name string) error {
	return tx.tx.Bucket(bucketEndpoints).Delete([]byte(name))
}

// EndpointsOn lists the endpoints with an interface on a network.
func (tx *Tx) EndpointsOn(network string) ([]Endpoint, error) {
	all, err := tx.Endpoints()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(e Endpoint) bool {
		_, ok := e.Iface(network)
		return !ok
	}), nil
}

// Port returns the publication of a host address, port and protocol.
func (tx *Tx) Port(key string) (*Port, error) { return get[Port](tx, bucketPorts, key) }

// Ports lists every publication.
func (tx *Tx) Ports() ([]Port, error) { return list[Port](tx, bucketPorts) }

// PutPort records a publication.
func (tx *Tx) PutPort(p *Port) error { return put(tx, bucketPorts, p.Key(), p) }

// DeletePort removes a publication.
func (tx *Tx) DeletePort(p *Port) error {
	return tx.tx.Bucket(bucketPorts).Delete([]byte(p.Key()))
}

// NetworksAndEndpoints reads both in one transaction.
func (s *Store) NetworksAndEndpoints() (nets []Network, eps []Endpoint, err error) {
	err = s.View(func(tx *Tx) error {
		if nets, err = tx.Networks(); err != nil {
			return err
		}
		eps, err = tx.Endpoints()
		return err
	})
	return nets, eps, err
}
