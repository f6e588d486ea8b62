package module

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
)

// View is what an app shows of itself in the console: a snapshot of its state, taken every
// few seconds while a page watches, and the actions an admin may take.
type View interface {
	// Snapshot is the app's state now, as JSON-encodable values.
	Snapshot(ctx context.Context) (any, error)
	// Act runs one action with its JSON params; ErrNoAction when the app has no such action.
	Act(ctx context.Context, action string, params json.RawMessage) (any, error)
}

// Errors an action returns (wrapped) so the console answers 404 or 400; any other is a 500.
var (
	ErrNoAction  = errors.New("no such action")
	ErrNotFound  = errors.New("not found")
	ErrBadParams = errors.New("bad params")
)

// Views is where apps register their views (in New) and the console finds them.
type Views struct {
	mu sync.Mutex
	m  map[string]View
}

// NewViews returns an empty registry.
func NewViews() *Views { return &Views{m: map[string]View{}} }

// Register makes v the view of app name. A nil registry ignores it (tests that build one app).
func (vs *Views) Register(name string, v View) {
	if vs == nil {
		return
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	vs.m[name] = v
}

// Get returns app name's view, if it has one.
func (vs *Views) Get(name string) (View, bool) {
	if vs == nil {
		return nil, false
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	v, ok := vs.m[name]
	return v, ok
}

// Names lists the apps with a view, sorted.
func (vs *Views) Names() []string {
	if vs == nil {
		return nil
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	names := make([]string, 0, len(vs.m))
	for n := range vs.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
