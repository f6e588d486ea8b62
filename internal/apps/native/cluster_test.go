package native_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/broker/natstest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

// startCluster runs n nodes on one PostgreSQL schema and one NATS server (embedded).
func startCluster(t *testing.T, n int) []*testNode {
	t.Helper()
	dsn, nats := storetest.PostgresDSN(t), natstest.URL(t)
	var nodes []*testNode
	for range n {
		nodes = append(nodes, startNode(t, func(c *config.Config) {
			c.Store, c.Broker = dsn, nats
			c.NATS.Heartbeat = config.Duration(200 * time.Millisecond)
		}))
	}
	return nodes
}

// TestCluster: three nodes behave as one server. A publication made on one node reaches
// subscribers on the others, joins and presence are cluster-wide, and a client whose node
// goes away recovers on another node with exactly what it missed.
func TestCluster(t *testing.T) {
	nodes := startCluster(t, 3)
	a, aID := connectID(t, nodes[0])
	b, bID := connectID(t, nodes[1])
	subA := decode[subResult](t, mustOK(t, a.call("subscribe", map[string]any{"channel": "room"})).Result)
	mustOK(t, b.call("subscribe", map[string]any{"channel": "room"}))
	// a sees its own join, then b's, made on the other node.
	for _, want := range []string{`"client":"` + aID + `"`, `"client":"` + bID + `"`} {
		if j := a.push(); j.Push != "join" || !strings.Contains(string(j.Info), want) {
			t.Fatalf("a: want a join with %s, got %+v %s", want, j, j.Info)
		}
	}
	for i := 1; i <= 3; i++ {
		code, body := api(t, nodes[2], "POST", "/v1/api/publish", testAPIKey, fmt.Sprintf(`{"channel":"room","data":%d}`, i))
		if code != 200 || !strings.Contains(body, fmt.Sprintf(`"offset":%d`, i)) || !strings.Contains(body, subA.Epoch) {
			t.Fatalf("publish %d on the third node: %d %s (epoch %s)", i, code, body, subA.Epoch)
		}
	}
	// b sees its own join. It may also see a's: b subscribed as soon as a's subscribe was
	// answered, and a's join, sent on node 0's NATS connection without waiting, can reach the
	// server after node 1's interest in the channel did. Both joins precede the publications,
	// which were sent after a saw both joins.
	var bJoins []string
	for len(bJoins) < 2 {
		j := b.push()
		if j.Push != "join" {
			b.pending = append([]frame{j}, b.pending...)
			break
		}
		bJoins = append(bJoins, string(j.Info))
	}
	if !slices.ContainsFunc(bJoins, func(info string) bool { return strings.Contains(info, `"client":"`+bID+`"`) }) ||
		(len(bJoins) == 2 && !strings.Contains(strings.Join(bJoins, " "), `"client":"`+aID+`"`)) {
		t.Fatalf("b: want its own join (and perhaps a's), got %q", bJoins)
	}
	for name, c := range map[string]*wsClient{"a": a, "b": b} {
		for i := 1; i <= 3; i++ {
			if p := c.push(); p.Push != "pub" || p.Offset != uint64(i) || string(p.Data) != fmt.Sprint(i) {
				t.Fatalf("%s: publication %d: %+v", name, i, p)
			}
		}
	}
	// Presence read on the third node, which holds neither member.
	code, body := api(t, nodes[2], "POST", "/v1/api/presence_stats", testAPIKey, `{"channel":"room"}`)
	if code != 200 || !strings.Contains(body, `"num_clients":2`) {
		t.Fatalf("presence stats on the third node: %d %s", code, body)
	}

	// The first node goes away; what is published meanwhile is recovered on another node.
	if err := nodes[0].stop(); err != nil {
		t.Fatal(err)
	}
	a.waitClosed()
	for i := 4; i <= 6; i++ {
		if code, body := api(t, nodes[2], "POST", "/v1/api/publish", testAPIKey, fmt.Sprintf(`{"channel":"room","data":%d}`, i)); code != 200 {
			t.Fatalf("publish %d: %d %s", i, code, body)
		}
	}
	a2 := connect(t, nodes[1], "")
	res := decode[subResult](t, mustOK(t, a2.call("subscribe", map[string]any{
		"channel": "room", "since": map[string]any{"offset": 3, "epoch": subA.Epoch},
	})).Result)
	if res.Recovered == nil || !*res.Recovered || len(res.Publications) != 3 || res.Publications[0].Offset != 4 || res.Offset != 6 {
		t.Fatalf("recovery on another node: %+v", res)
	}
	// The stopped node's member is gone from presence; the new one is listed.
	code, body = api(t, nodes[2], "POST", "/v1/api/presence_stats", testAPIKey, `{"channel":"room"}`)
	if code != 200 || !strings.Contains(body, `"num_clients":2`) {
		t.Fatalf("presence stats after the first node left: %d %s", code, body)
	}
}

// connectID connects anonymously and returns the client id the server gave.
func connectID(t *testing.T, n *testNode) (*wsClient, string) {
	t.Helper()
	c := dial(t, n, nil)
	r := mustOK(t, c.call("connect", map[string]any{}))
	return c, decode[struct{ Client string }](t, r.Result).Client
}
