package signal_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/apps/signal"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node/nodetest"
)

// g2Peer is a registered G2 peer.
type g2Peer struct {
	base, id, secret, channel string
}

func register(t testing.TB, base string) g2Peer {
	t.Helper()
	r := do(t, "POST", base+"/register", nil)
	want(t, r, http.StatusOK)
	var p struct{ PeerID, Secret, Channel string }
	_ = json.Unmarshal(r.Body, &p)
	if len(p.PeerID) != 32 || len(p.Secret) != 80 || !strings.HasPrefix(p.Channel, "rondevu:") {
		t.Fatalf("register answered %s", r.Body)
	}
	return g2Peer{base, p.PeerID, p.Secret, p.Channel}
}

func (p g2Peer) do(t testing.TB, method, path string, body any) response {
	t.Helper()
	return do(t, method, p.base+path, body, "Authorization", "Bearer "+p.id+":"+p.secret)
}

func TestG2Flow(t *testing.T) { eachStore(t, g2Flow) }

func g2Flow(t *testing.T, useStore func(*config.Config)) {
	n := startNode(t, useStore)
	base := n.URL + "/rondevu"
	want(t, do(t, "GET", base+"/", nil), 200, `"name":"Rondevu"`, `"description":"Topic-based peer discovery and signaling server"`)
	want(t, do(t, "GET", base+"/health", nil), 200, `"status":"ok"`, `"timestamp":`)

	alice, bob := register(t, base), register(t, base)
	aliceSSE := subscribe(t, n.URL, alice.channel)

	// Alice offers on two topics (given out of order: the echo keeps it, reads sort).
	r := alice.do(t, "POST", "/offers", map[string]any{"offers": []any{
		map[string]any{"sdp": "v=0 alice", "topics": []string{"movies", "chess"}, "ttl": 300000, "info": "alice's room"},
	}})
	want(t, r, 200, `"topics":["movies","chess"]`, `"peerId":"`+alice.id+`"`)
	var created struct {
		Offers []struct {
			ID        string
			ExpiresAt int64
		}
	}
	_ = json.Unmarshal(r.Body, &created)
	offerID := created.Offers[0].ID
	if len(offerID) != 64 {
		t.Fatalf("offer id %q", offerID)
	}

	// Bob discovers it by topic; a bloom filter holding alice hides it; topics count peers.
	r = do(t, "GET", base+"/offers/by-topic/chess?limit=10", nil)
	want(t, r, 200, `"id":"`+offerID+`"`, `"topics":["chess","movies"]`, `"hasSecret":false`, `"info":"alice's room"`, `"total":1`, `"returned":1`)
	filter := base64.StdEncoding.EncodeToString(signal.NewBloom(128, alice.id))
	want(t, do(t, "GET", base+"/offers/by-topic/chess?bloom="+url.QueryEscape(filter), nil), 200, `"offers":[]`, `"total":0`)
	want(t, do(t, "GET", base+"/topics?startsWith=ch", nil), 200, `"topics":[{"topic":"chess","activePeers":1}]`, `"startsWith":"ch"`, `"total":1`)
	want(t, do(t, "GET", base+"/peers/"+alice.id+"/offers", nil), 200, `"id":"`+offerID+`"`, `"topics":["chess","movies"]`)

	// Bob answers; alice sees it pushed and by polling.
	r = bob.do(t, "POST", "/offers/"+offerID+"/answer", map[string]any{"sdp": "v=0 bob"})
	want(t, r, 200, `"offerId":"`+offerID+`"`, `"answererId":"`+bob.id+`"`)
	answeredAt := int64(r.obj(t)["answeredAt"].(float64))
	var pushed map[string]any
	_ = json.Unmarshal(next(t, aliceSSE).Data, &pushed)
	if pushed["type"] != "answer" || pushed["sdp"] != "v=0 bob" || pushed["offerId"] != offerID || pushed["answererId"] != bob.id ||
		fmt.Sprint(pushed["topics"]) != "[chess movies]" {
		t.Fatalf("pushed answer %v", pushed)
	}
	want(t, alice.do(t, "GET", "/offers/answers", nil), 200, `"sdp":"v=0 bob"`, `"answeredAt":`+strconv.FormatInt(answeredAt, 10))
	want(t, alice.do(t, "GET", "/offers/mine", nil), 200, `"answererPeerId":"`+bob.id+`"`)
	// An answered offer leaves discovery.
	want(t, do(t, "GET", base+"/offers/by-topic/chess", nil), 200, `"offers":[]`)
	want(t, bob.do(t, "POST", "/offers/"+offerID+"/answer", map[string]any{"sdp": "again"}), 400, "Offer already answered")

	// Candidates both ways, each pushed to the other party and readable with since.
	bobSSE := subscribe(t, n.URL, bob.channel)
	want(t, alice.do(t, "POST", "/offers/"+offerID+"/ice-candidates", map[string]any{
		"candidates": []any{map[string]any{"candidate": "a1", "sdpMid": "0"}, map[string]any{"candidate": "a2"}}}), 200, `"candidatesAdded":2`)
	want(t, bob.do(t, "POST", "/offers/"+offerID+"/ice-candidates", map[string]any{
		"candidates": []any{map[string]any{"candidate": "b1"}}}), 200, `"candidatesAdded":1`)
	_ = json.Unmarshal(next(t, bobSSE).Data, &pushed)
	if pushed["type"] != "candidates" || len(pushed["candidates"].([]any)) != 2 {
		t.Fatalf("bob was pushed %v", pushed)
	}
	_ = json.Unmarshal(next(t, aliceSSE).Data, &pushed)
	if pushed["type"] != "candidates" || !strings.Contains(string(mustJSON(pushed)), `"candidate":"b1"`) {
		t.Fatalf("alice was pushed %v", pushed)
	}
	r = bob.do(t, "GET", "/offers/"+offerID+"/ice-candidates", nil)
	want(t, r, 200, `{"candidate":{"candidate":"a1","sdpMid":"0"},"peerId":"`+alice.id+`","role":"offerer"`)
	var got struct {
		Candidates []struct{ CreatedAt int64 }
	}
	_ = json.Unmarshal(r.Body, &got)
	if len(got.Candidates) != 2 || got.Candidates[1].CreatedAt <= got.Candidates[0].CreatedAt {
		t.Fatalf("candidates %s", r.Body)
	}
	r = bob.do(t, "GET", "/offers/"+offerID+"/ice-candidates?since="+strconv.FormatInt(got.Candidates[0].CreatedAt, 10), nil)
	want(t, r, 200, `"candidate":"a2"`)
	if strings.Contains(string(r.Body), `"a1"`) {
		t.Fatalf("since did not exclude the first: %s", r.Body)
	}
	want(t, alice.do(t, "GET", "/offers/"+offerID+"/ice-candidates", nil), 200, `"candidate":"b1"`, `"role":"answerer"`)

	// A third peer may neither add nor read candidates (rondevu G4 let anyone inject).
	eve := register(t, base)
	want(t, eve.do(t, "POST", "/offers/"+offerID+"/ice-candidates", map[string]any{"candidates": []any{"x"}}), 403, "Not authorized to post ICE candidates for this offer")
	want(t, eve.do(t, "GET", "/offers/"+offerID+"/ice-candidates", nil), 403, "Not authorized to view ICE candidates for this offer")

	want(t, eve.do(t, "DELETE", "/offers/"+offerID, nil), 404, "Offer not found or not authorized")
	want(t, alice.do(t, "DELETE", "/offers/"+offerID, nil), 200, `"deleted":true`)
	want(t, alice.do(t, "GET", "/offers/mine", nil), 200, `"offers":[]`)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestG2OfferSecret(t *testing.T) {
	n := startNode(t, nil)
	base := n.URL + "/rondevu"
	alice, bob := register(t, base), register(t, base)
	r := alice.do(t, "POST", "/offers", map[string]any{"offers": []any{map[string]any{"sdp": "v=0", "topics": []string{"t"}, "secret": "hunter2"}}})
	want(t, r, 200)
	id := r.obj(t)["offers"].([]any)[0].(map[string]any)["id"].(string)
	want(t, do(t, "GET", base+"/offers/by-topic/t", nil), 200, `"hasSecret":true`)
	if strings.Contains(string(alice.do(t, "GET", "/offers/mine", nil).Body), "hunter2") {
		t.Fatal("the secret is shown back")
	}
	want(t, bob.do(t, "POST", "/offers/"+id+"/answer", map[string]any{"sdp": "v=0"}), 400, "Invalid or missing secret")
	want(t, bob.do(t, "POST", "/offers/"+id+"/answer", map[string]any{"sdp": "v=0", "secret": "hunter3"}), 400, "Invalid or missing secret")
	want(t, bob.do(t, "POST", "/offers/"+id+"/answer", map[string]any{"sdp": "v=0", "secret": "hunter2"}), 200)
	// The database holds no plaintext secret.
	var stored string
	if err := n.Store.Read().QueryRow(`SELECT secret_hash FROM signal_offers WHERE id = $1`, id).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$") || strings.Contains(stored, "hunter2") {
		t.Fatalf("stored secret %q", stored)
	}
}

func TestG2Errors(t *testing.T) {
	n := startNode(t, func(c *config.Config) { signal.Settings(*c).MaxCandidatesOff = 3 })
	base := n.URL + "/rondevu"
	p := register(t, base)
	other := register(t, base)
	long := strings.Repeat("x", 129)
	offer := func(o map[string]any) map[string]any { return map[string]any{"offers": []any{o}} }
	many := make([]any, 101)
	for i := range many {
		many[i] = map[string]any{"sdp": "v", "topics": []string{"t"}}
	}
	for _, tc := range []struct {
		name   string
		peer   *g2Peer
		method string
		path   string
		body   any
		status int
		msg    string
	}{
		{"no auth", nil, "POST", "/offers", offer(map[string]any{"sdp": "v", "topics": []string{"t"}}), 401, "Missing Authorization header"},
		{"not json", &p, "POST", "/offers", "{", 400, "Invalid JSON body"},
		{"not an object", &p, "POST", "/offers", "[1]", 400, "Invalid JSON body"},
		{"no offers", &p, "POST", "/offers", map[string]any{}, 400, "Missing or invalid required parameter: offers (must be non-empty array)"},
		{"empty offers", &p, "POST", "/offers", map[string]any{"offers": []any{}}, 400, "Missing or invalid required parameter: offers"},
		{"too many offers", &p, "POST", "/offers", map[string]any{"offers": many}, 400, "Too many offers. Maximum 100 per request"},
		{"no sdp", &p, "POST", "/offers", offer(map[string]any{"topics": []string{"t"}}), 400, "Each offer must have an sdp field"},
		{"sdp number", &p, "POST", "/offers", offer(map[string]any{"sdp": 1, "topics": []string{"t"}}), 400, "Each offer must have an sdp field"},
		{"sdp too large", &p, "POST", "/offers", offer(map[string]any{"sdp": strings.Repeat("v", 65537), "topics": []string{"t"}}), 400, "SDP must be 64KB or less"},
		{"secret type", &p, "POST", "/offers", offer(map[string]any{"sdp": "v", "topics": []string{"t"}, "secret": 5}), 400, "Secret must be a string"},
		{"secret long", &p, "POST", "/offers", offer(map[string]any{"sdp": "v", "topics": []string{"t"}, "secret": long}), 400, "Secret must be 128 characters or less"},
		{"info type", &p, "POST", "/offers", offer(map[string]any{"sdp": "v", "topics": []string{"t"}, "info": true}), 400, "Info must be a string"},
		{"info long", &p, "POST", "/offers", offer(map[string]any{"sdp": "v", "topics": []string{"t"}, "info": long}), 400, "Info must be 128 characters or less"},
		{"no topics", &p, "POST", "/offers", offer(map[string]any{"sdp": "v"}), 400, "Each offer must have a non-empty topics array"},
		{"empty topic", &p, "POST", "/offers", offer(map[string]any{"sdp": "v", "topics": []string{""}}), 400, "Each topic must be a string between 1 and 256 characters"},
		{"topic not string", &p, "POST", "/offers", offer(map[string]any{"sdp": "v", "topics": []any{1}}), 400, "Each topic must be a string between 1 and 256 characters"},
		{"too many topics", &p, "POST", "/offers", offer(map[string]any{"sdp": "v", "topics": strings.Split(strings.Repeat("a,", 50)+"z", ",")}), 400, "Too many topics. Maximum 50 per offer"},
		{"ttl string", &p, "POST", "/offers", offer(map[string]any{"sdp": "v", "topics": []string{"t"}, "ttl": "1"}), 400, "ttl must be a non-negative number"},
		{"bad bloom", nil, "GET", "/offers/by-topic/t?bloom=%21%21", nil, 400, "Invalid bloom filter format"},
		{"bad limit", nil, "GET", "/offers/by-topic/t?limit=abc", nil, 400, "limit must be a non-negative integer"},
		{"bad topics offset", nil, "GET", "/topics?offset=-1", nil, 400, "offset must be a non-negative integer"},
		{"answer unknown", &p, "POST", "/offers/" + strings.Repeat("0", 64) + "/answer", map[string]any{"sdp": "v"}, 400, "Offer not found or expired"},
		{"answer no sdp", &p, "POST", "/offers/x/answer", map[string]any{}, 400, "Missing or invalid required parameter: sdp"},
		{"answer secret type", &p, "POST", "/offers/x/answer", map[string]any{"sdp": "v", "secret": 1}, 400, "Secret must be a string"},
		{"ice unknown", &p, "POST", "/offers/x/ice-candidates", map[string]any{"candidates": []any{"c"}}, 404, "Offer not found or expired"},
		{"ice empty", &p, "POST", "/offers/x/ice-candidates", map[string]any{"candidates": []any{}}, 400, "Missing or invalid required parameter: candidates (must be non-empty array)"},
		{"ice too large", &p, "POST", "/offers/x/ice-candidates", map[string]any{"candidates": []any{strings.Repeat("c", 5000)}}, 400, "Candidate at index 0 too large (max 4096 bytes)"},
		{"ice get unknown", &p, "GET", "/offers/x/ice-candidates", nil, 404, "Offer not found or expired"},
		{"ice bad since", &p, "GET", "/offers/x/ice-candidates?since=abc", nil, 400, "since must be a number"},
		{"unknown path", nil, "GET", "/offers/x/y", nil, 404, "Not Found"},
		{"heartbeat unknown", &p, "PUT", "/offers/x/heartbeat", nil, 404, "Offer not found or expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.peer == nil {
				r = do(t, tc.method, base+tc.path, tc.body)
			} else {
				r = tc.peer.do(t, tc.method, tc.path, tc.body)
			}
			want(t, r, tc.status, tc.msg)
		})
	}

	// A repeated offer (same SDP and topics) and a repeated topic are no 500 (rondevu's ids
	// were a hash of both).
	same := offer(map[string]any{"sdp": "v=0 same", "topics": []string{"dup", "dup"}})
	want(t, p.do(t, "POST", "/offers", same), 200, `"topics":["dup"]`)
	want(t, other.do(t, "POST", "/offers", same), 200)
	r := do(t, "GET", base+"/offers/by-topic/dup", nil)
	want(t, r, 200, `"total":2`)

	// Heartbeat (server 0.1.0) by owner only; per-offer candidate limit.
	id := r.obj(t)["offers"].([]any)[0].(map[string]any)["id"].(string)
	owner, stranger := p, other
	if !strings.Contains(string(p.do(t, "GET", "/offers/mine", nil).Body), id) {
		owner, stranger = other, p
	}
	want(t, stranger.do(t, "PUT", "/offers/"+id+"/heartbeat", nil), 403, "Not authorized to update this offer")
	want(t, owner.do(t, "PUT", "/offers/"+id+"/heartbeat", nil), 200, `"id":"`+id+`"`, `"lastSeen":`)
	want(t, owner.do(t, "POST", "/offers/"+id+"/ice-candidates", map[string]any{"candidates": []any{"1", "2", "3"}}), 200)
	want(t, owner.do(t, "POST", "/offers/"+id+"/ice-candidates", map[string]any{"candidates": []any{"4"}}), 400, "ICE candidate limit exceeded for offer. Current: 3, limit: 3.")
}

func TestG2OfferQuota(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		signal.Settings(*c).MaxOffersPerPeer = 2
		signal.Settings(*c).MaxTotalOffers = 3
	})
	base := n.URL + "/rondevu"
	a, b := register(t, base), register(t, base)
	o := map[string]any{"offers": []any{map[string]any{"sdp": "v", "topics": []string{"t"}}, map[string]any{"sdp": "w", "topics": []string{"t"}}}}
	want(t, a.do(t, "POST", "/offers", o), 200)
	want(t, a.do(t, "POST", "/offers", o), 429, "User offer limit exceeded. You have 2 offers, limit is 2.")
	want(t, b.do(t, "POST", "/offers", o), 503, "Server offer limit reached (3)")
}

// TestRestartKeepsEverything: what got a 2xx survives a restart, credentials included
// (the key is kept in the store).
func TestRestartKeepsEverything(t *testing.T) { eachStore(t, restartKeepsEverything) }

func restartKeepsEverything(t *testing.T, useStore func(*config.Config)) {
	cfg := testConfig(t, useStore)
	n := nodetest.Start(t, cfg)
	base := n.URL + "/rondevu"
	alice, bob := register(t, base), register(t, base)
	r := alice.do(t, "POST", "/offers", map[string]any{"offers": []any{map[string]any{"sdp": "v=0 a", "topics": []string{"r"}, "ttl": 600000}}})
	want(t, r, 200)
	id := r.obj(t)["offers"].([]any)[0].(map[string]any)["id"].(string)
	want(t, bob.do(t, "POST", "/offers/"+id+"/answer", map[string]any{"sdp": "v=0 b"}), 200)
	want(t, bob.do(t, "POST", "/offers/"+id+"/ice-candidates", map[string]any{"candidates": []any{map[string]any{"candidate": "b"}}}), 200)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	n2 := nodetest.Start(t, cfg)
	base = n2.URL + "/rondevu"
	alice.base, bob.base = base, base
	want(t, alice.do(t, "GET", "/offers/answers", nil), 200, `"sdp":"v=0 b"`, `"offerId":"`+id+`"`)
	want(t, alice.do(t, "GET", "/offers/"+id+"/ice-candidates", nil), 200, `"candidate":{"candidate":"b"}`)
	want(t, bob.do(t, "GET", "/push", nil), 200, `"channel":"`+bob.channel+`"`)
}

// TestG2CustomPeerID: a client-chosen id (0.1.3–0.1.4, client 0.7.10+) is granted while it is
// free and refused with 409 while held; once its registration has expired and it owns no
// live offer, it can be registered again, and the former holder's credential stops working.
func TestG2CustomPeerID(t *testing.T) { eachStore(t, g2CustomPeerID) }

func g2CustomPeerID(t *testing.T, useStore func(*config.Config)) {
	n := startNode(t, func(c *config.Config) { useStore(c); signal.Settings(*c).PeerTTL = 1000 })
	base := n.URL + "/rondevu"
	claim := func(body any) (response, g2Peer) {
		r := do(t, "POST", base+"/register", body)
		var p struct{ PeerID, Secret, Channel string }
		_ = json.Unmarshal(r.Body, &p)
		return r, g2Peer{base, p.PeerID, p.Secret, p.Channel}
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"empty id", map[string]any{"peerId": ""}, 400, "Peer ID must be a non-empty string"},
		{"not a string", map[string]any{"peerId": 5}, 400, "Peer ID must be a non-empty string"},
		{"too long", map[string]any{"peerId": strings.Repeat("x", 129)}, 400, "Peer ID must be 128 characters or less"},
		{"128 characters", map[string]any{"peerId": strings.Repeat("é", 128)}, 200, `"peerId":"` + strings.Repeat("é", 128)},
		{"unparsable body: a random id", "not json", 200, `"secret":`},
		{"no peerId: a random id", map[string]any{}, 200, `"secret":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := claim(tc.body)
			want(t, r, tc.status, tc.msg)
		})
	}

	r, alice := claim(map[string]any{"peerId": "alice"})
	want(t, r, 200, `"peerId":"alice"`)
	want(t, alice.do(t, "GET", "/offers/mine", nil), 200, `"peerId":"alice"`)
	r, _ = claim(map[string]any{"peerId": "alice"})
	want(t, r, 409, `{"error":"Peer ID is already in use"}`)

	// bob owns a live offer: his id stays held after his registration expires.
	r, bob := claim(map[string]any{"peerId": "bob"})
	want(t, r, 200)
	want(t, bob.do(t, "POST", "/offers", map[string]any{"offers": []any{map[string]any{"sdp": "v=0 bob", "topics": []string{"t"}, "ttl": 60000}}}), 200)

	// Past peer_ttl (1 s here): alice's id is free again, bob's is not.
	time.Sleep(1100 * time.Millisecond)
	want(t, alice.do(t, "GET", "/offers/mine", nil), 200) // still hers until someone else registers it
	r, _ = claim(map[string]any{"peerId": "bob"})
	want(t, r, 409, "Peer ID is already in use")
	r, mallory := claim(map[string]any{"peerId": "alice"})
	want(t, r, 200, `"peerId":"alice"`)
	want(t, mallory.do(t, "GET", "/offers/mine", nil), 200)
	want(t, alice.do(t, "GET", "/offers/mine", nil), 401, "Invalid credentials")
	want(t, bob.do(t, "GET", "/offers/mine", nil), 200, `"v=0 bob"`)
}
