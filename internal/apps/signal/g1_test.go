package signal_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/config"
)

func TestG1Flow(t *testing.T) { eachStore(t, g1Flow) }

func g1Flow(t *testing.T, useStore func(*config.Config)) {
	n := startNode(t, useStore)
	base := n.URL + "/rondevu/v1"
	const origin = "https://app.example"
	o := func(method, path string, body any) response {
		return do(t, method, base+path, body, "Origin", origin)
	}
	want(t, o("GET", "/", nil), 200, `{"version":"dev"}`)
	want(t, o("GET", "/health", nil), 200, `"status":"ok"`)

	r := o("POST", "/lobby/offer", map[string]any{"peerId": "alice", "offer": "v=0 a"})
	want(t, r, 200, `"code":"`)
	var created struct{ Code, Channel string }
	_ = json.Unmarshal(r.Body, &created)
	if len(created.Code) != 36 || created.Code[14] != '4' || !strings.HasPrefix(created.Channel, "rondevu:") {
		t.Fatalf("offer answered %s", r.Body)
	}
	code := created.Code
	push := subscribe(t, n.URL, created.Channel)

	// Sessions are bucketed by Origin: another origin (or none) sees nothing.
	want(t, o("GET", "/topics", nil), 200, `"topics":[{"topic":"lobby","count":1}]`, `"pagination":{"hasMore":false,"limit":100,"page":1,"total":1}`)
	want(t, do(t, "GET", base+"/topics", nil), 200, `"topics":[]`)
	want(t, do(t, "GET", base+"/lobby/sessions", nil, "Origin", "https://evil.example"), 200, `"sessions":[]`)
	want(t, do(t, "POST", base+"/poll", map[string]any{"code": code, "side": "answerer"}, "Origin", "https://evil.example"), 404, "Session not found, expired, or origin mismatch")

	// The offerer trickles a candidate; the answerer finds the session with it.
	want(t, o("POST", "/answer", map[string]any{"code": code, "side": "offerer", "candidate": `{"candidate":"a1"}`}), 200, `{"success":true}`)
	r = o("GET", "/lobby/sessions", nil)
	want(t, r, 200, `"code":"`+code+`"`, `"peerId":"alice"`, `"offer":"v=0 a"`, `"offerCandidates":["{\"candidate\":\"a1\"}"]`)
	want(t, o("POST", "/poll", map[string]any{"code": code, "side": "answerer"}), 200, `"offer":"v=0 a"`, `"offerCandidates":["{\"candidate\":\"a1\"}"]`)
	_ = next(t, push) // the candidate

	// The answerer answers and trickles; the offerer polls both, and is pushed both.
	want(t, o("POST", "/poll", map[string]any{"code": code, "side": "offerer"}), 200, `"answer":null`, `"answerCandidates":[]`)
	want(t, o("POST", "/answer", map[string]any{"code": code, "side": "answerer", "answer": "v=0 b"}), 200)
	want(t, o("POST", "/answer", map[string]any{"code": code, "side": "answerer", "candidate": "b1"}), 200)
	want(t, o("POST", "/poll", map[string]any{"code": code, "side": "offerer"}), 200, `"answer":"v=0 b"`, `"answerCandidates":["b1"]`)
	var ev map[string]string
	_ = json.Unmarshal(next(t, push).Data, &ev)
	if ev["type"] != "answer" || ev["answer"] != "v=0 b" {
		t.Fatalf("pushed %v", ev)
	}
	_ = json.Unmarshal(next(t, push).Data, &ev)
	if ev["type"] != "candidate" || ev["side"] != "answerer" || ev["candidate"] != "b1" {
		t.Fatalf("pushed %v", ev)
	}
	// An answered session leaves the listings.
	want(t, o("GET", "/lobby/sessions", nil), 200, `"sessions":[]`)
	want(t, o("GET", "/topics", nil), 200, `"topics":[]`)

	// X-Rondevu-Global shares one bucket across origins; client codes; a taken code is a 409.
	g := func(path string, body any, origin string) response {
		return do(t, "POST", base+path, body, "X-Rondevu-Global", "true", "Origin", origin)
	}
	want(t, g("/world/offer", map[string]any{"info": "bob", "offer": "v=0", "code": "room-1"}, "https://a.example"), 200, `"code":"room-1"`)
	want(t, g("/world/offer", map[string]any{"peerId": "carol", "offer": "v=0", "code": "room-1"}, "https://b.example"), 409, "Session code 'room-1' already exists")
	want(t, g("/poll", map[string]any{"code": "room-1", "side": "answerer"}, "https://b.example"), 200, `"offer":"v=0"`)
}

func TestG1Errors(t *testing.T) {
	n := startNode(t, nil)
	base := n.URL + "/rondevu/v1"
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		msg                string
	}{
		{"long topic", "GET", "/" + strings.Repeat("t", 1025) + "/sessions", nil, 400, "Topic string must be 1024 characters or less"},
		{"no peer", "POST", "/t/offer", map[string]any{"offer": "v"}, 400, "Missing or invalid required parameter: peerId"},
		{"long peer", "POST", "/t/offer", map[string]any{"peerId": strings.Repeat("p", 1025), "offer": "v"}, 400, "PeerId string must be 1024 characters or less"},
		{"no offer", "POST", "/t/offer", map[string]any{"peerId": "p"}, 400, "Missing or invalid required parameter: offer"},
		{"huge offer", "POST", "/t/offer", map[string]any{"peerId": "p", "offer": strings.Repeat("v", 65537)}, 400, "Offer must be 65536 bytes or less"},
		{"bad code", "POST", "/t/offer", map[string]any{"peerId": "p", "offer": "v", "code": []int{1}}, 400, "code must be a string"},
		{"not json", "POST", "/answer", "nope", 400, "Invalid JSON body"},
		{"no code", "POST", "/answer", map[string]any{"side": "offerer", "answer": "a"}, 400, "Missing or invalid required parameter: code"},
		{"bad side", "POST", "/answer", map[string]any{"code": "c", "side": "x", "answer": "a"}, 400, `Invalid or missing parameter: side (must be \"offerer\" or \"answerer\")`},
		{"nothing", "POST", "/answer", map[string]any{"code": "c", "side": "offerer"}, 400, "Missing required parameter: answer or candidate"},
		{"both", "POST", "/answer", map[string]any{"code": "c", "side": "offerer", "answer": "a", "candidate": "c"}, 400, "Cannot provide both answer and candidate"},
		{"huge candidate", "POST", "/answer", map[string]any{"code": "c", "side": "offerer", "candidate": strings.Repeat("c", 4097)}, 400, "Candidate must be 4096 bytes or less"},
		{"unknown session", "POST", "/answer", map[string]any{"code": "c", "side": "offerer", "answer": "a"}, 404, "Session not found, expired, or origin mismatch"},
		{"poll unknown", "POST", "/poll", map[string]any{"code": "c", "side": "offerer"}, 404, "Session not found, expired, or origin mismatch"},
		{"bad page", "GET", "/topics?page=x", nil, 400, "page must be a non-negative integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, do(t, tc.method, base+tc.path, tc.body), tc.status, tc.msg)
		})
	}
}
