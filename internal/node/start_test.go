package node_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/broker/natstest"
	"github.com/switchboard/switchboard/internal/node"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

// TestNodesStartTogether: nodes started at the same moment on an empty PostgreSQL schema all
// come up: migrations, keys and every other step of startup that touches shared state are
// safe when they race, the NATS history stream's creation included. (The migration table used to be created before the lock was taken:
// one of three nodes failed in 2 of 5 tries.)
func TestNodesStartTogether(t *testing.T) {
	nats := natstest.URL(t)
	for round := range 3 {
		dsn := storetest.PostgresDSN(t)
		const nodes = 3
		errs := make([]error, nodes)
		started := make([]*node.Node, nodes)
		var ready, wg sync.WaitGroup
		ready.Add(nodes)
		gate := make(chan struct{})
		for i := range nodes {
			wg.Go(func() {
				cfg := node.DefaultConfig()
				cfg.Store, cfg.Broker = dsn, nats
				cfg.NATS.Prefix = fmt.Sprintf("start%d", round) // a history stream of the round's own
				cfg.DataDir = t.TempDir()
				ready.Done()
				<-gate
				started[i], errs[i] = node.New(context.Background(), cfg, quiet)
			})
		}
		ready.Wait()
		close(gate)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: node %d: %v", round, i, err)
				continue
			}
			if err := started[i].Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
	}
}
