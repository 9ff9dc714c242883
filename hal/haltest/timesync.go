package haltest

import (
	"context"
	"sync"

	"github.com/capturebox/capturebox/hal"
)

// FakeTimeSync is a hal.TimeSync whose answer the test sets.
type FakeTimeSync struct {
	mu     sync.Mutex
	synced bool
	err    error
	calls  int
}

var _ hal.TimeSync = (*FakeTimeSync)(nil)

// NewFakeTimeSync returns a FakeTimeSync that answers synced.
func NewFakeTimeSync(synced bool) *FakeTimeSync {
	return &FakeTimeSync{synced: synced}
}

// Set sets the answer of Synchronized and clears any error.
func (f *FakeTimeSync) Set(synced bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.synced, f.err = synced, nil
}

// SetErr makes Synchronized fail with err (nil clears it).
func (f *FakeTimeSync) SetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Synchronized implements hal.TimeSync.
func (f *FakeTimeSync) Synchronized(ctx context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if f.err != nil {
		return false, f.err
	}
	return f.synced, nil
}

// Calls returns how many times Synchronized was called.
func (f *FakeTimeSync) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}
