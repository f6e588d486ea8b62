package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard/switchboard/internal/broker/natstest"
	"github.com/switchboard/switchboard/internal/pubsub"
)

// republished turns a stored message back into the copy the stream republishes, as a node
// receives it.
func republished(t *testing.T, b *NATS, seq uint64) *nats.Msg {
	t.Helper()
	s, _ := b.historyStream()
	raw, err := s.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(raw.Subject)
	for k, v := range raw.Header {
		m.Header[k] = v
	}
	m.Header.Set(jetstream.SequenceHeader, fmt.Sprint(seq))
	m.Data = raw.Data
	return m
}

// TestNATSReordersAndRefills: publications that arrive out of order (NATS 2.9 republishes
// concurrent publishers' messages in any order) or not at all reach the hub in offset order,
// each once; one gone from the stream is left for the hub to declare as a gap.
func TestNATSReordersAndRefills(t *testing.T) {
	ctx := context.Background()
	c := natsCluster(t, natstest.URL(t), NATSOptions{MaxHistory: 3})
	pubE, _ := c.node(t)
	pub := pubE.(*NATS)
	var seqs []uint64
	for i := 1; i <= 6; i++ {
		if _, err := pub.Publish(ctx, "ch", []byte(fmt.Sprint(i)), hist); err != nil {
			t.Fatal(err)
		}
		st, _ := pub.pubs.Get("ch")
		seqs = append(seqs, st.seq)
	}
	tests := []struct {
		name     string
		from     uint64 // offset the node has delivered before
		arrivals []int  // offsets arriving, in this order
		want     string // offsets the hub gets
	}{
		{"in order", 3, []int{4, 5, 6}, "[4 5 6]"},
		{"swapped", 3, []int{5, 4, 6}, "[4 5 6]"},
		{"last first", 3, []int{6, 4, 5}, "[4 5 6]"},
		{"duplicate", 4, []int{5, 5, 6}, "[5 6]"},
		// The stream keeps 3 per channel (and one spare): offsets 3 to 6. 2 is gone, so
		// the hub gets 3 after 1, and sees the gap.
		{"gone from the stream", 1, []int{6}, "[3 4 5 6]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newEvents()
			node := &NATS{opts: pub.opts, log: pub.log, handler: ev}
			node.stream.Store(pub.stream.Load())
			ch := &natsChannel{b: node, name: "ch", epoch: mustLast(t, pub).epoch, off: tt.from, seq: seqs[tt.from-1]}
			for _, off := range tt.arrivals {
				ch.receive(republished(t, pub, seqs[off-1]))
			}
			if got := fmt.Sprint(ev.offsets("ch")); got != tt.want {
				t.Fatalf("hub got %s, want %s", got, tt.want)
			}
		})
	}
}

func mustLast(t *testing.T, b *NATS) storedMsg {
	t.Helper()
	m, found, err := b.readLast(context.Background(), "ch")
	if err != nil || !found {
		t.Fatalf("read last: %v %v", found, err)
	}
	return m
}

// TestNATSOutageAndRestart: while NATS is down, Ping and publishes fail at once with a clear
// error; the node reconnects by itself when NATS is back, history survives the restart, and
// (NewEpochOnRestart) the next publication starts a new epoch, continuing the offsets.
func TestNATSOutageAndRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := natstest.Start(t, -1, dir)
	port := srv.Addr().(*net.TCPAddr).Port
	c := natsCluster(t, srv.ClientURL(), NATSOptions{NewEpochOnRestart: true})
	e, ev := c.node(t)
	b := e.(*NATS)
	if err := b.Subscribe("keep"); err != nil {
		t.Fatal(err)
	}
	before, err := b.Publish(ctx, "keep", []byte(`"before"`), hist)
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	for deadline := time.Now().Add(guard); b.nc.IsConnected(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the node never noticed NATS was gone")
		}
	}
	if err := b.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded while NATS is down")
	}
	pctx, cancel := context.WithTimeout(ctx, guard)
	defer cancel()
	if _, err := b.Publish(pctx, "live", []byte(`1`), pubsub.PublishOptions{}); !errors.Is(err, pubsub.ErrUnavailable) {
		t.Fatalf("an unsequenced publish while NATS is down: %v, want ErrUnavailable", err)
	}
	if _, err := b.Publish(pctx, "keep", []byte(`1`), hist); !errors.Is(err, pubsub.ErrUnavailable) || errors.Is(pctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("a stored publish while NATS is down: %v (it must fail with ErrUnavailable, not wait out the context)", err)
	}

	natstest.Start(t, port, dir)
	for deadline := time.Now().Add(guard); b.Ping(ctx) != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the node did not reconnect")
		}
	}
	res, err := b.History(ctx, "keep", pubsub.HistoryFilter{Limit: -1})
	if err != nil || len(res.Publications) != 1 || string(res.Publications[0].Data) != `"before"` {
		t.Fatalf("history after the restart: %+v %v", res, err)
	}
	// The reconnect handler records the restart in the background: wait for it.
	for deadline := time.Now().Add(guard); b.restartSeq.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the restart was never noticed")
		}
	}
	after, err := b.Publish(ctx, "keep", []byte(`"after"`), hist)
	if err != nil {
		t.Fatal(err)
	}
	if after.Offset != before.Offset+1 || after.Epoch == before.Epoch {
		t.Fatalf("after the restart: %+v, before %+v: want the next offset in a new epoch", after, before)
	}
	// The subscription came back too.
	ev.waitFor(t, "the publication after the restart", func() bool {
		ps := ev.pubs["keep"]
		return len(ps) > 0 && string(ps[len(ps)-1].Data) == `"after"`
	})
}

// TestNATSDeadNodeLeavesPresence: a node that dies without a word stops answering, so its
// members are gone from every presence read at once, and after three heartbeats it is no
// longer waited for.
func TestNATSDeadNodeLeavesPresence(t *testing.T) {
	ctx := context.Background()
	c := natsCluster(t, natstest.URL(t), NATSOptions{Heartbeat: 50 * time.Millisecond})
	ae, _ := c.node(t)
	be, _ := c.node(t)
	a, b := ae.(*NATS), be.(*NATS)
	waitNodes(t, b, 2)
	if err := a.AddPresence(ctx, "room", "ca", &pubsub.ClientInfo{Client: "ca"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPresence(ctx, "room", "cb", &pubsub.ClientInfo{Client: "cb"}, 0); err != nil {
		t.Fatal(err)
	}
	if m, _ := b.Presence(ctx, "room"); len(m) != 2 {
		t.Fatalf("before: %v", m)
	}
	a.nc.Close() // a dies: no goodbye
	if m, err := b.Presence(ctx, "room"); err != nil || len(m) != 1 || m["cb"] == nil {
		t.Fatalf("after the death: %v %v", m, err)
	}
	// The node that did not answer is not waited for by the next reads.
	b.mu.Lock()
	_, silent := b.silent[a.opts.NodeID]
	b.mu.Unlock()
	if !silent {
		t.Fatal("the silent node is still waited for")
	}
	for deadline := time.Now().Add(guard); len(b.Nodes()) != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the dead node is still listed: %v", b.Nodes())
		}
	}
}
