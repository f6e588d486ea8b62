package signal_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/apps/signal"
	"github.com/switchboard/switchboard/internal/config"
)

type published struct {
	PublicKey string
	Tags      []string
	Offers    []struct {
		OfferID   string
		CreatedAt int64
		ExpiresAt int64
	}
	ExpiresAt int64
}

type pollResult struct {
	Answers []struct {
		OfferID           string
		AnswererPublicKey string
		SDP               string
		AnsweredAt        int64
		MatchedTags       []string
	}
	IceCandidates map[string][]struct {
		ID        int64
		OfferID   string
		PublicKey string
		Role      string
		Candidate map[string]any
		CreatedAt int64
	}
}

func TestG4Flow(t *testing.T) { eachStore(t, g4Flow) }

func g4Flow(t *testing.T, useStore func(*config.Config)) {
	n := startNode(t, useStore)
	base := n.URL + "/rondevu/v4"
	want(t, do(t, "GET", base+"/", nil), 200, `"name":"Rondevu"`, `"stats":{"offers":0}`)
	want(t, do(t, "GET", base+"/health", nil), 200, `"status":"ok"`)
	want(t, do(t, "GET", base+"/rpc", nil), 404, "Not found. Use POST /rpc for all API calls.")
	// A browser's preflight for the header-auth client is allowed, with its own headers.
	pre := do(t, "OPTIONS", base+"/rpc", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "Content-Type,X-PublicKey,X-Timestamp,X-Nonce,X-Signature")
	if pre.Status != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "X-Signature") {
		t.Fatalf("preflight: %d %v", pre.Status, pre.Header)
	}

	host, guest := newG4Peer(base), newG4Peer(base)
	hostPush := call[map[string]string](t, host, "getPushChannel", nil)["channel"]
	hostSSE := subscribe(t, n.URL, hostPush)

	pub := call[published](t, host, "publishOffer", map[string]any{"tags": []string{"chat", "eu"}, "offers": []any{map[string]any{"sdp": "v=0 host"}}, "ttl": 300000})
	if pub.PublicKey != host.pub || len(pub.Offers) != 1 || pub.Offers[0].ExpiresAt-pub.Offers[0].CreatedAt != 300000 {
		t.Fatalf("publish result %+v", pub)
	}
	offerID := pub.Offers[0].OfferID
	want(t, do(t, "GET", base+"/", nil), 200, `"stats":{"offers":1}`)

	// Discovery is unauthenticated: paged, random, counts; the caller's own offers are left out.
	res := guest.batch(t,
		rpcCall{Method: "discover", Params: map[string]any{"tags": []string{"chat"}, "limit": 100}},
		rpcCall{Method: "discover", Params: map[string]any{"tags": []string{"eu", "zz"}}},
		rpcCall{Method: "countOffersByTags", Params: map[string]any{"tags": []string{"zz", "chat"}, "unique": true}},
		rpcCall{Method: "discover", Params: map[string]any{"tags": []string{"chat"}, "limit": 5}, Auth: map[string]any{"publicKey": host.pub}},
	)
	for i, r := range res {
		if !r.Success {
			t.Fatalf("call %d: %s", i, r.Error)
		}
	}
	if !strings.Contains(string(res[0].Result), `"offerId":"`+offerID+`"`) || !strings.Contains(string(res[0].Result), `"count":1,"limit":100,"offset":0`) {
		t.Fatalf("paged discover %s", res[0].Result)
	}
	if !strings.HasPrefix(string(res[1].Result), `{"offerId":"`+offerID+`","publicKey":"`+host.pub+`","tags":["chat","eu"],"sdp":"v=0 host"`) {
		t.Fatalf("random discover %s", res[1].Result)
	}
	if string(res[2].Result) != `{"counts":{"zz":0,"chat":1}}` {
		t.Fatalf("counts %s", res[2].Result)
	}
	if !strings.Contains(string(res[3].Result), `"offers":[]`) {
		t.Fatalf("self-exclusion %s", res[3].Result)
	}

	// The guest answers (matchedTags), the host learns it by push and by poll.
	callErr(t, guest, "answerOffer", map[string]any{"offerId": offerID, "sdp": "v=0 guest", "matchedTags": []string{"us"}}, "INVALID_PARAMS")
	call[map[string]any](t, guest, "answerOffer", map[string]any{"offerId": offerID, "sdp": "v=0 guest", "matchedTags": []string{"chat"}})
	var pushed map[string]any
	_ = json.Unmarshal(next(t, hostSSE).Data, &pushed)
	if pushed["type"] != "answer" || pushed["answererPublicKey"] != guest.pub || pushed["sdp"] != "v=0 guest" {
		t.Fatalf("pushed %v", pushed)
	}
	callErr(t, newG4Peer(base), "answerOffer", map[string]any{"offerId": offerID, "sdp": "late", "matchedTags": []string{}}, "OFFER_ALREADY_ANSWERED")
	ans := call[map[string]any](t, host, "getOfferAnswer", map[string]any{"offerId": offerID})
	if ans["sdp"] != "v=0 guest" || ans["answererPublicKey"] != guest.pub || ans["matchedTags"].([]any)[0] != "chat" {
		t.Fatalf("getOfferAnswer %v", ans)
	}
	callErr(t, guest, "getOfferAnswer", map[string]any{"offerId": offerID}, "NOT_AUTHORIZED")

	// Candidates both ways; a stranger cannot inject (rondevu let it: spec A4.2).
	call[map[string]any](t, host, "addIceCandidates", map[string]any{"offerId": offerID, "candidates": []any{
		map[string]any{"candidate": "h1", "sdpMid": "0", "sdpMLineIndex": 0}, map[string]any{"candidate": "h2"}}})
	got := call[map[string]any](t, guest, "addIceCandidates", map[string]any{"offerId": offerID, "candidates": []any{map[string]any{"candidate": "g1"}}})
	if got["count"] != float64(1) || got["offerId"] != offerID {
		t.Fatalf("addIceCandidates %v", got)
	}
	callErr(t, newG4Peer(base), "addIceCandidates", map[string]any{"offerId": offerID, "candidates": []any{map[string]any{"candidate": "evil"}}}, "NOT_AUTHORIZED")
	_ = json.Unmarshal(next(t, hostSSE).Data, &pushed)
	if pushed["type"] != "candidates" || !strings.Contains(string(mustJSON(pushed)), `"g1"`) {
		t.Fatalf("pushed %v", pushed)
	}

	hp := call[pollResult](t, host, "poll", map[string]any{"since": 0})
	if len(hp.Answers) != 1 || hp.Answers[0].MatchedTags[0] != "chat" || len(hp.IceCandidates[offerID]) != 1 {
		t.Fatalf("host poll %+v", hp)
	}
	rec := hp.IceCandidates[offerID][0]
	if rec.Role != "answerer" || rec.PublicKey != guest.pub || rec.Candidate["candidate"] != "g1" || rec.ID == 0 {
		t.Fatalf("record %+v", rec)
	}
	gp := call[pollResult](t, guest, "poll", map[string]any{"since": 0})
	if len(gp.Answers) != 0 || len(gp.IceCandidates[offerID]) != 2 || gp.IceCandidates[offerID][0].Candidate["candidate"] != "h1" {
		t.Fatalf("guest poll %+v", gp)
	}
	// A cursor at the newest time seen returns nothing old.
	last := gp.IceCandidates[offerID][1].CreatedAt
	if p := call[pollResult](t, guest, "poll", map[string]any{"since": last}); len(p.IceCandidates) != 0 {
		t.Fatalf("poll since %d: %+v", last, p)
	}
	ic := call[map[string]any](t, guest, "getIceCandidates", map[string]any{"offerId": offerID, "since": 0})
	if len(ic["candidates"].([]any)) != 2 || ic["candidates"].([]any)[0].(map[string]any)["role"] != "offerer" {
		t.Fatalf("getIceCandidates %v", ic)
	}

	// Tags of live offers can be replaced; delete by owner only.
	if r := call[map[string]any](t, host, "updateOfferTags", map[string]any{"tags": []string{"new"}}); r["count"] != float64(1) {
		t.Fatalf("updateOfferTags %v", r)
	}
	callErr(t, guest, "deleteOffer", map[string]any{"offerId": offerID}, "NOT_AUTHORIZED")
	call[map[string]any](t, host, "deleteOffer", map[string]any{"offerId": offerID})
	callErr(t, host, "getOfferAnswer", map[string]any{"offerId": offerID}, "OFFER_NOT_FOUND")
}

func TestG4Envelope(t *testing.T) {
	n := startNode(t, func(c *config.Config) { signal.Settings(*c).MaxBatchSize = 3; signal.Settings(*c).MaxTotalOps = 4 })
	url := n.URL + "/rondevu/v4/rpc"
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"not json", "{", 400, `[{"success":false,"error":"Invalid JSON in request body","errorCode":"INVALID_PARAMS"}]`},
		{"not array", `{"method":"discover"}`, 400, `[{"success":false,"error":"Request must be an array of RPC calls","errorCode":"INVALID_PARAMS"}]`},
		{"empty", `[]`, 400, `[{"success":false,"error":"Empty request array","errorCode":"INVALID_PARAMS"}]`},
		{"too many", `[{},{},{},{}]`, 413, `"errorCode":"BATCH_TOO_LARGE"`},
		{"too many ops", `[{"method":"publishOffer","params":{"offers":[1,2,3,4,5]}}]`, 200, `exceed limit: 5 \u003e 4","errorCode":"BATCH_TOO_LARGE"`},
		{"no method", `[{"params":{}}]`, 200, `[{"success":false,"error":"Missing or invalid method","errorCode":"INVALID_PARAMS"}]`},
		{"unknown", `[{"method":"nope"}]`, 200, `"error":"Unknown method: nope","errorCode":"UNKNOWN_METHOD"`},
		{"element not object", `[5]`, 200, `"errorCode":"INVALID_PARAMS"`},
		{"no auth", `[{"method":"poll"}]`, 200, `"errorCode":"AUTH_REQUIRED"`},
		{"tags not array", `[{"method":"discover","params":{"tags":"x"}}]`, 200, `"error":"Tags must be an array","errorCode":"INVALID_TAG"`},
		{"no tags", `[{"method":"discover","params":{"tags":[]}}]`, 200, `"error":"At least one tag is required"`},
		{"bad tag", `[{"method":"discover","params":{"tags":["Chat"]}}]`, 200, `"error":"Tag 1: Tag must be lowercase alphanumeric with optional dots/dashes, and start/end with alphanumeric"`},
		{"bad short tag", `[{"method":"discover","params":{"tags":["ok","-"]}}]`, 200, `"error":"Tag 2: Tag must be lowercase alphanumeric"`},
		{"dup tags", `[{"method":"discover","params":{"tags":["a","a"]}}]`, 200, `"error":"Duplicate tags are not allowed"`},
		{"long tag", `[{"method":"discover","params":{"tags":["` + strings.Repeat("a", 65) + `"]}}]`, 200, `"error":"Tag 1: Tag must be at most 64 characters"`},
		{"bad limit", `[{"method":"discover","params":{"tags":["a"],"limit":null}}]`, 200, `"error":"limit must be a non-negative integer"`},
		{"bad offset", `[{"method":"discover","params":{"tags":["a"],"limit":1,"offset":1.5}}]`, 200, `"error":"offset must be a non-negative integer"`},
		{"none found", `[{"method":"discover","params":{"tags":["a"]}}]`, 200, `"error":"No offers found matching tags","errorCode":"OFFER_NOT_FOUND"`},
		{"text/plain ok", `[{"method":"countOffersByTags","params":{"tags":["a"]}}]`, 200, `[{"success":true,"result":{"counts":{"a":0}}}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, do(t, "POST", url, tc.body, "Content-Type", "text/plain"), tc.status, tc.want)
		})
	}
}

func TestG4Auth(t *testing.T) {
	n := startNode(t, nil)
	base := n.URL + "/rondevu/v4"
	p := newG4Peer(base)
	params := map[string]any{"since": 0}
	good := p.sign(t, "poll", params)
	with := func(k string, v any) map[string]any {
		a := map[string]any{}
		for kk, vv := range good {
			a[kk] = vv
		}
		if v == nil {
			delete(a, k)
		} else {
			a[k] = v
		}
		return a
	}
	for _, tc := range []struct {
		name string
		auth map[string]any
		code string
		msg  string
	}{
		{"no key", with("publicKey", nil), "AUTH_REQUIRED", "Missing or invalid publicKey"},
		{"no timestamp", with("timestamp", nil), "AUTH_REQUIRED", "Missing or invalid timestamp"},
		{"timestamp string", with("timestamp", "1"), "AUTH_REQUIRED", "Missing or invalid timestamp"},
		{"no nonce", with("nonce", nil), "AUTH_REQUIRED", "Missing or invalid nonce"},
		{"no signature", with("signature", nil), "AUTH_REQUIRED", "Missing or invalid signature"},
		{"old", with("timestamp", time.Now().Add(-2*time.Minute).UnixMilli()), "INVALID_PARAMS", "Timestamp too old"},
		{"future", with("timestamp", time.Now().Add(2*time.Minute).UnixMilli()), "INVALID_PARAMS", "Timestamp too far in future"},
		{"short key", with("publicKey", "abcd"), "INVALID_PUBLIC_KEY", "Public key must be 64 hex characters (32 bytes)"},
		{"upper key", with("publicKey", p.pub[:63]+"A"), "INVALID_PUBLIC_KEY", "position 63: 'A' (use lowercase hex)"},
		{"bad nonce", with("nonce", "not-a-uuid"), "INVALID_CREDENTIALS", "Invalid nonce format"},
		{"bad signature", with("signature", base64.StdEncoding.EncodeToString(make([]byte, 64))), "INVALID_CREDENTIALS", "Invalid signature"},
		{"short signature", with("signature", "AAAA"), "INVALID_CREDENTIALS", "Invalid signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.batch(t, rpcCall{"poll", params, tc.auth})[0]
			if r.Success || r.ErrorCode != tc.code || !strings.Contains(r.Error, tc.msg) {
				t.Fatalf("got %+v, want %s %q", r, tc.code, tc.msg)
			}
		})
	}
	// The signature covers the params: changing them breaks it.
	if r := p.batch(t, rpcCall{"poll", map[string]any{"since": 1}, good})[0]; r.ErrorCode != "INVALID_CREDENTIALS" {
		t.Fatalf("tampered params: %+v", r)
	}
	// A good call succeeds once; its replay is refused.
	if r := p.batch(t, rpcCall{"poll", params, good})[0]; !r.Success {
		t.Fatalf("good call: %+v", r)
	}
	if r := p.batch(t, rpcCall{"poll", params, good})[0]; r.ErrorCode != "INVALID_CREDENTIALS" || !strings.Contains(r.Error, "Nonce already used") {
		t.Fatalf("replay: %+v", r)
	}

	// Header credentials (the older client): one authenticated call per request; fields
	// fall back one by one, and the body's auth wins.
	h := p.sign(t, "poll", params)
	r := do(t, "POST", base+"/rpc", []rpcCall{{Method: "poll", Params: params}}, "X-PublicKey", p.pub,
		"X-Timestamp", strconv.FormatInt(int64(h["timestamp"].(int64)), 10), "X-Nonce", h["nonce"].(string), "X-Signature", h["signature"].(string))
	want(t, r, 200, `"success":true`)
	mixed := p.sign(t, "poll", params)
	sig := mixed["signature"]
	delete(mixed, "signature")
	r = do(t, "POST", base+"/rpc", []rpcCall{{Method: "poll", Params: params, Auth: mixed}}, "X-Signature", sig.(string))
	want(t, r, 200, `"success":true`)
	r = do(t, "POST", base+"/rpc", []rpcCall{{Method: "poll", Params: params}}, "X-PublicKey", p.pub, "X-Timestamp", "abc", "X-Nonce", uuid4(), "X-Signature", "x")
	want(t, r, 200, `"errorCode":"AUTH_REQUIRED"`, "Missing or invalid timestamp")

	// The client's fallback nonce (32 hex) is accepted.
	fb := p.sign(t, "poll", params)
	fb["nonce"] = strings.ReplaceAll(uuid4(), "-", "")
	// Re-sign with that nonce.
	fb = resign(t, p, "poll", params, fb)
	if r := p.batch(t, rpcCall{"poll", params, fb})[0]; !r.Success {
		t.Fatalf("fallback nonce: %+v", r)
	}

	// The real client signs an omitted optional param as `"since":undefined` (spec A1.4).
	und := resignRaw(t, p, "poll", `{"since":undefined}`)
	if r := p.batch(t, rpcCall{"poll", nil, und})[0]; !r.Success {
		t.Fatalf("undefined quirk: %+v", r)
	}
}

// resign signs params with the nonce already in auth.
func resign(t testing.TB, p *g4Peer, method string, params any, auth map[string]any) map[string]any {
	t.Helper()
	var parsed any
	j, _ := json.Marshal(params)
	_ = json.Unmarshal(j, &parsed)
	canon, _ := canonical(parsed)
	return signMessage(p, method, canon, auth["nonce"].(string))
}

func resignRaw(t testing.TB, p *g4Peer, method, canon string) map[string]any {
	t.Helper()
	return signMessage(p, method, canon, uuid4())
}

func TestG4RateLimit(t *testing.T) {
	n := startNode(t, func(c *config.Config) { signal.Settings(*c).RequestsPerIP, signal.Settings(*c).RequestsBurst = 1, 0 })
	p := newG4Peer(n.URL + "/rondevu/v4")
	call := rpcCall{Method: "countOffersByTags", Params: map[string]any{"tags": []string{"a"}}}
	limited := 0
	for range 10 {
		r := p.batch(t, call, call)
		if !r[0].Success {
			if r[0].ErrorCode != "RATE_LIMIT_EXCEEDED" || r[1].ErrorCode != "RATE_LIMIT_EXCEEDED" || r[0].Error != "Rate limit exceeded. Maximum 1 requests per second per IP." {
				t.Fatalf("limited answer %+v", r)
			}
			limited++
		}
	}
	// A burst of 1 passes, then one more per second the loop takes: ten requests stay well
	// ahead of that, however slow the machine.
	if limited < 5 {
		t.Fatalf("only %d of 10 requests were limited", limited)
	}
}

// TestG4ClientBurst: the header-auth client sends each call as its own request; 60 at once
// from one address pass with the default limits.
func TestG4ClientBurst(t *testing.T) {
	n := startNode(t, nil)
	body, _ := json.Marshal([]rpcCall{{Method: "countOffersByTags", Params: map[string]any{"tags": []string{"a"}}}})
	var wg sync.WaitGroup
	answers := make([]string, 60)
	for i := range answers {
		wg.Go(func() {
			c := &http.Client{Timeout: guard}
			r, err := c.Post(n.URL+"/rondevu/v4/rpc", "application/json", bytes.NewReader(body))
			if err != nil {
				answers[i] = err.Error()
				return
			}
			defer r.Body.Close()
			b, _ := io.ReadAll(r.Body)
			answers[i] = strconv.Itoa(r.StatusCode) + " " + string(b)
		})
	}
	wg.Wait()
	for i, a := range answers {
		if !strings.HasPrefix(a, `200 [{"success":true`) {
			t.Fatalf("request %d of a burst of 60: %s", i, a)
		}
	}
}

func TestG4Limits(t *testing.T) {
	n := startNode(t, func(c *config.Config) { signal.Settings(*c).MaxCandidatesOff = 2 })
	base := n.URL + "/rondevu/v4"
	host, guest := newG4Peer(base), newG4Peer(base)
	callErr(t, host, "publishOffer", map[string]any{"tags": []string{"a"}, "offers": []any{}}, "MISSING_PARAMS")
	callErr(t, host, "publishOffer", map[string]any{"tags": []string{"a"}, "offers": []any{5}}, "INVALID_PARAMS")
	callErr(t, host, "publishOffer", map[string]any{"tags": []string{"a"}, "offers": []any{map[string]any{"sdp": "  "}}}, "INVALID_SDP")
	callErr(t, host, "publishOffer", map[string]any{"tags": []string{"a"}, "offers": []any{map[string]any{"sdp": strings.Repeat("v", 65537)}}}, "SDP_TOO_LARGE")
	callErr(t, host, "publishOffer", map[string]any{"tags": []string{"a"}, "offers": []any{map[string]any{"sdp": "v"}}, "ttl": -1}, "INVALID_PARAMS")
	// TTL is clamped to [min, max].
	pub := call[published](t, host, "publishOffer", map[string]any{"tags": []string{"a"}, "offers": []any{map[string]any{"sdp": "v"}}, "ttl": 1})
	if pub.Offers[0].ExpiresAt-pub.Offers[0].CreatedAt != 60000 {
		t.Fatalf("ttl 1 gave %d", pub.Offers[0].ExpiresAt-pub.Offers[0].CreatedAt)
	}
	id := pub.Offers[0].OfferID
	callErr(t, host, "answerOffer", map[string]any{"offerId": id, "sdp": "v", "matchedTags": []string{}}, "NOT_AUTHORIZED")
	callErr(t, guest, "answerOffer", map[string]any{"offerId": id, "sdp": "", "matchedTags": []string{}}, "INVALID_SDP")
	callErr(t, guest, "answerOffer", map[string]any{"offerId": id, "sdp": "v", "matchedTags": "a"}, "INVALID_PARAMS")
	callErr(t, guest, "answerOffer", map[string]any{"offerId": "nope", "sdp": "v", "matchedTags": []string{}}, "OFFER_NOT_FOUND")
	callErr(t, guest, "getOfferAnswer", map[string]any{"offerId": ""}, "INVALID_PARAMS")
	callErr(t, host, "getOfferAnswer", map[string]any{"offerId": id}, "OFFER_NOT_ANSWERED")
	callErr(t, host, "poll", map[string]any{"since": -1}, "INVALID_PARAMS")
	callErr(t, host, "addIceCandidates", map[string]any{"offerId": id, "candidates": []any{}}, "MISSING_PARAMS")
	callErr(t, host, "addIceCandidates", map[string]any{"offerId": id, "candidates": []any{"str"}}, "INVALID_PARAMS")
	deep := any(map[string]any{})
	for range 11 {
		deep = map[string]any{"a": deep}
	}
	callErr(t, host, "addIceCandidates", map[string]any{"offerId": id, "candidates": []any{deep}}, "INVALID_PARAMS")
	callErr(t, host, "addIceCandidates", map[string]any{"offerId": id, "candidates": []any{map[string]any{"c": strings.Repeat("x", 5000)}}}, "INVALID_PARAMS")
	call[map[string]any](t, host, "addIceCandidates", map[string]any{"offerId": id, "candidates": []any{map[string]any{"c": 1}, map[string]any{"c": 2}}})
	callErr(t, host, "addIceCandidates", map[string]any{"offerId": id, "candidates": []any{map[string]any{"c": 3}}}, "TOO_MANY_ICE_CANDIDATES")
	callErr(t, guest, "getIceCandidates", map[string]any{"offerId": id}, "NOT_AUTHORIZED")

	// An answered offer lives ANSWERED_OFFER_TTL from the answer on.
	call[map[string]any](t, guest, "answerOffer", map[string]any{"offerId": id, "sdp": "v", "matchedTags": []string{"a"}})
	var expires int64
	if err := n.Store.Read().QueryRow(`SELECT expires_at - answered_at FROM signal_offers WHERE id = $1`, id).Scan(&expires); err != nil {
		t.Fatal(err)
	}
	if expires > 30000 || expires < 29000 {
		t.Fatalf("answered offer expires %d ms after the answer", expires)
	}
}
