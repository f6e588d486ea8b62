package signal

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/switchboard/switchboard/internal/httpx"
)

// G1 is rondevu's legacy topic/session API (server 0.0.x, spec A3): no authentication, and
// sessions bucketed by Origin (or X-Rondevu-Global: true, or "unknown"). A session is
// stored as an offer whose id is its code and whose scope is its bucket.
// Fixed without changing the wire: candidates are rows, not a read-modify-write JSON array
// (no lost updates); offer, answer and candidate sizes, candidates per session and the
// session listing are bounded; a bad page/limit is a 400, not an SQL error. The answer to
// POST /:topic/offer and /poll carries the session's push channel as an extra field.
type G1 struct{ s *Service }

// G1 returns the legacy surface.
func (s *Service) G1() *G1 { return &G1{s} }

// Name is the app's name in logs.
func (*G1) Name() string { return "signal-g1" }

// Routes mounts G1's paths below its prefix.
func (g *G1) Routes(r *httpx.Router) {
	r.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]string{"version": g.s.version})
	})
	r.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]any{"status": "ok", "timestamp": g.s.nowMS()})
	})
	r.HandleFunc("GET /topics", g.topics)
	r.HandleFunc("GET /{topic}/sessions", g.sessions)
	r.HandleFunc("POST /{topic}/offer", g.offer)
	r.HandleFunc("POST /answer", g.answer)
	r.HandleFunc("POST /poll", g.poll)
}

// maxSessionsListed bounds GET /:topic/sessions (rondevu listed them all).
const maxSessionsListed = 1000

// bucket is the request's session namespace.
func bucket(r *http.Request) string {
	if r.Header.Get("X-Rondevu-Global") == "true" {
		return "https://ronde.vu"
	}
	if o := r.Header.Get("Origin"); o != "" {
		return o
	}
	return "unknown"
}

func (g *G1) channel(scope, code string) string { return g.s.channel("g1:" + scope + "\x00" + code) }

func (g *G1) topics(w http.ResponseWriter, r *http.Request) {
	page, e := queryInt(r, "page", 1)
	if e == nil {
		var limit int
		if limit, e = queryInt(r, "limit", 100); e == nil {
			g.listTopics(w, r, max(page, 1), min(max(limit, 1), 1000))
			return
		}
	}
	fail(w, e)
}

func (g *G1) listTopics(w http.ResponseWriter, r *http.Request, page, limit int) {
	scope := bucket(r)
	offset := (page - 1) * limit
	counts, total, err := g.s.db.tagCounts(r.Context(), filter{Gen: gen1, Now: g.s.nowMS(), Scope: &scope, Available: true}, "", false, limit, offset)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	type topic struct {
		Topic string `json:"topic"`
		Count int    `json:"count"`
	}
	out := make([]topic, len(counts))
	for i, c := range counts {
		out[i] = topic{c.Tag, c.Count}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{
		"topics":     out,
		"pagination": map[string]any{"page": page, "limit": limit, "total": total, "hasMore": offset+len(out) < total},
	})
}

func checkTopic(topic string) *apiError {
	if jsLen(topic) > 1024 {
		return invalid("Topic string must be 1024 characters or less")
	}
	return nil
}

// candidateStrings decodes stored candidates, which G1 keeps as JSON strings.
func candidateStrings(cs []candidate) map[string][]string {
	out := map[string][]string{}
	for _, c := range cs {
		var s string
		_ = json.Unmarshal(c.Candidate, &s)
		out[c.OfferID] = append(out[c.OfferID], s)
	}
	return out
}

func orEmpty(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func (g *G1) sessions(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if e := checkTopic(topic); e != nil {
		fail(w, e)
		return
	}
	scope := bucket(r)
	offers, err := g.s.db.listOffers(r.Context(), filter{Gen: gen1, Now: g.s.nowMS(), Scope: &scope, AnyTags: []string{topic}, Available: true},
		"o.created_at DESC", maxSessionsListed, 0)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	ids := make([]string, len(offers))
	for i, o := range offers {
		ids[i] = o.ID
	}
	cs, err := g.s.db.candidates(r.Context(), gen1, ids, "offerer", 0)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	byCode := candidateStrings(cs)
	type session struct {
		Code            string   `json:"code"`
		PeerID          string   `json:"peerId"`
		Offer           string   `json:"offer"`
		OfferCandidates []string `json:"offerCandidates"`
		CreatedAt       int64    `json:"createdAt"`
		ExpiresAt       int64    `json:"expiresAt"`
	}
	out := make([]session, len(offers))
	for i, o := range offers {
		out[i] = session{o.ID, o.Owner, o.SDP, orEmpty(byCode[o.ID]), o.CreatedAt, o.ExpiresAt}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"sessions": out})
}

// newUUID returns a random UUID v4.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// maxCodeLen bounds a client-chosen session code.
const maxCodeLen = 256

func (g *G1) offer(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if e := checkTopic(topic); e != nil {
		fail(w, e)
		return
	}
	f, ok := g.s.body(w, r)
	if !ok {
		return
	}
	peer, ok := f.str("peerId")
	if !ok {
		peer, ok = f.str("info") // the earliest commit's name for it
	}
	if !ok || peer == "" {
		httpx.Error(w, http.StatusBadRequest, "Missing or invalid required parameter: peerId")
		return
	}
	if jsLen(peer) > 1024 {
		httpx.Error(w, http.StatusBadRequest, "PeerId string must be 1024 characters or less")
		return
	}
	sdp, ok := f.str("offer")
	if !ok || sdp == "" {
		httpx.Error(w, http.StatusBadRequest, "Missing or invalid required parameter: offer")
		return
	}
	if len(sdp) > g.s.cfg.MaxSDPSize {
		httpx.Error(w, http.StatusBadRequest, "Offer must be "+strconv.Itoa(g.s.cfg.MaxSDPSize)+" bytes or less")
		return
	}
	code := newUUID()
	if f.has("code") {
		if c, ok := f.str("code"); ok {
			code = c
		} else if n, ok := f.num("code"); ok {
			code = jsNumber(n)
		} else {
			httpx.Error(w, http.StatusBadRequest, "code must be a string")
			return
		}
		if code == "" || len(code) > maxCodeLen {
			httpx.Error(w, http.StatusBadRequest, "code must be 1 to "+strconv.Itoa(maxCodeLen)+" bytes")
			return
		}
	}
	now := g.s.nowMS()
	scope := bucket(r)
	err := g.s.createOffers(r.Context(), gen1, peer, []newOffer{{ID: code, Scope: scope, SDP: sdp, Tags: []string{topic}, ExpiresAt: now + g.s.cfg.SessionTTL}},
		false, now)
	if errors.Is(err, errExists) {
		httpx.Error(w, http.StatusConflict, "Session code '"+code+"' already exists")
		return
	}
	if e := g.s.quotaError(err); e != nil {
		fail(w, e)
		return
	}
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	g.s.log.Info("g1 session", "code", code, "topic", topic, "bucket", scope)
	httpx.JSON(w, http.StatusOK, map[string]string{"code": code, "channel": g.channel(scope, code)})
}

// sessionRequest reads {code, side} and loads the live session of the caller's bucket.
func (g *G1) sessionRequest(w http.ResponseWriter, r *http.Request) (fields, *offer, string, bool) {
	f, ok := g.s.body(w, r)
	if !ok {
		return nil, nil, "", false
	}
	code, ok := f.str("code")
	if !ok || code == "" {
		httpx.Error(w, http.StatusBadRequest, "Missing or invalid required parameter: code")
		return nil, nil, "", false
	}
	side, _ := f.str("side")
	if side != "offerer" && side != "answerer" {
		httpx.Error(w, http.StatusBadRequest, `Invalid or missing parameter: side (must be "offerer" or "answerer")`)
		return nil, nil, "", false
	}
	return f, &offer{ID: code, Scope: bucket(r)}, side, true
}

// load reads the session, answering 404 itself.
func (g *G1) load(w http.ResponseWriter, r *http.Request, key *offer) (*offer, bool) {
	o, err := g.s.db.getOffer(r.Context(), gen1, key.ID, g.s.nowMS())
	if errors.Is(err, errNotFound) || (err == nil && o.Scope != key.Scope) {
		httpx.Error(w, http.StatusNotFound, "Session not found, expired, or origin mismatch")
		return nil, false
	}
	if err != nil {
		g.s.internal(w, r, err)
		return nil, false
	}
	return o, true
}

func (g *G1) answer(w http.ResponseWriter, r *http.Request) {
	f, key, side, ok := g.sessionRequest(w, r)
	if !ok {
		return
	}
	answer, _ := f.str("answer")
	cand, _ := f.str("candidate")
	switch {
	case answer == "" && cand == "":
		httpx.Error(w, http.StatusBadRequest, "Missing required parameter: answer or candidate")
		return
	case answer != "" && cand != "":
		httpx.Error(w, http.StatusBadRequest, "Cannot provide both answer and candidate")
		return
	case len(answer) > g.s.cfg.MaxSDPSize:
		httpx.Error(w, http.StatusBadRequest, "Answer must be "+strconv.Itoa(g.s.cfg.MaxSDPSize)+" bytes or less")
		return
	case len(cand) > g.s.cfg.MaxCandidateSize:
		httpx.Error(w, http.StatusBadRequest, "Candidate must be "+strconv.Itoa(g.s.cfg.MaxCandidateSize)+" bytes or less")
		return
	}
	o, ok := g.load(w, r, key)
	if !ok {
		return
	}
	now := g.s.nowMS()
	ch := g.channel(o.Scope, o.ID)
	if answer != "" {
		// The answer overwrites whatever was there, whichever side sends it (spec A3).
		if _, err := g.s.db.answer(r.Context(), gen1, o.ID, o.Scope, "", answer, nil, 0, now, true); err != nil {
			g.answerFailed(w, r, err)
			return
		}
		g.s.publish(r.Context(), ch, map[string]string{"type": pushAnswer, "code": o.ID, "answer": answer})
	} else {
		b, _ := json.Marshal(cand)
		_, err := g.s.db.addCandidates(r.Context(), gen1, o.ID, "", side, []json.RawMessage{b}, g.s.cfg.MaxCandidatesOff, now)
		if e := candidateLimit(err); e != nil {
			fail(w, e)
			return
		}
		if err != nil {
			g.answerFailed(w, r, err)
			return
		}
		g.s.publish(r.Context(), ch, map[string]string{"type": "candidate", "code": o.ID, "side": side, "candidate": cand})
	}
	httpx.JSON(w, http.StatusOK, map[string]bool{"success": true})
}

func (g *G1) answerFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotFound) {
		httpx.Error(w, http.StatusNotFound, "Session not found, expired, or origin mismatch")
		return
	}
	g.s.internal(w, r, err)
}

func (g *G1) poll(w http.ResponseWriter, r *http.Request) {
	_, key, side, ok := g.sessionRequest(w, r)
	if !ok {
		return
	}
	o, ok := g.load(w, r, key)
	if !ok {
		return
	}
	cs, err := g.s.db.candidates(r.Context(), gen1, []string{o.ID}, otherRole(side), 0)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	cands := orEmpty(candidateStrings(cs)[o.ID])
	ch := g.channel(o.Scope, o.ID)
	if side == "offerer" {
		var answer *string
		if o.Answered {
			answer = &o.AnswerSDP
		}
		httpx.JSON(w, http.StatusOK, map[string]any{"answer": answer, "answerCandidates": cands, "channel": ch})
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"offer": o.SDP, "offerCandidates": cands, "channel": ch})
}
