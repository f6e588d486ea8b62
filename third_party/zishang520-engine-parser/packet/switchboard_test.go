package packet

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestSharedComputesOnce: however many recipients ask at once, the value is computed once.
func TestSharedComputesOnce(t *testing.T) {
	var s Shared
	var calls atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			v, err := s.Do(func() (any, error) { calls.Add(1); return "frame", nil })
			if v != "frame" || err != nil {
				t.Errorf("got %v %v", v, err)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("computed %d times", calls.Load())
	}
}
