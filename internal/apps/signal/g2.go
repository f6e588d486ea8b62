package signal

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/httpx"
)

// G2 is rondevu's register/peerId+secret API (server 0.1.x, spec A2), the 0.1.4 superset.
// Deliberate differences, none of which changes a shape a client reads:
//   - offer ids are random, so the same SDP twice is no 500 (A4 G2);
//   - an offer's secret is kept as an argon2id hash and compared in constant time, so
//     GET /offers/mine cannot return it (the field is optional there);
//   - info is stored and returned, as the README promised;
//   - answered offers leave discovery (by-topic, peers/:id/offers, topic counts): they
//     cannot be answered again; /offers/mine still lists them;
//   - by-topic "total" counts the matching offers left after the bloom filter (rondevu
//     added the number of excluded peers);
//   - a body that is not JSON, or a non-numeric limit/since/ttl, is a 400 instead of a 500 or
//     an empty page; candidates have rondevu G4's size, depth and count limits;
//   - /register grants a custom peerId (0.1.3–0.1.4) only while the id is free: never
//     registered, or its registration expired (peer_ttl) and it owns no live offer; the
//     original checked live offers only, so one peer could take another's id. A credential
//     is valid only while it is the last one issued for its id. The answer carries the
//     peer's push channel as an extra field.
type G2 struct{ s *Service }

// G2 returns the G2 surface.
func (s *Service) G2() *G2 { return &G2{s} }

// Name is the app's name in logs.
func (*G2) Name() string { return "signal-g2" }

// Routes mounts G2's paths below its prefix.
func (g *G2) Routes(r *httpx.Router) {
	r.HandleFunc("GET /{$}", g.root)
	r.HandleFunc("GET /health", g.s.health)
	r.HandleFunc("POST /register", g.register)
	r.HandleFunc("GET /push", g.auth(g.pushChannel))
	r.HandleFunc("POST /offers", g.auth(g.createOffers))
	r.HandleFunc("GET /topics", g.topics)
	r.HandleFunc("GET /peers/{peerId}/offers", g.peerOffers)
	r.HandleFunc("GET /offers/mine", g.auth(g.mine))
	r.HandleFunc("GET /offers/answers", g.auth(g.answers))
	// /offers/by-topic/{topic} and /offers/{offerId}/ice-candidates overlap for the path
	// /offers/by-topic/ice-candidates, which net/http refuses to register twice: one
	// pattern serves both, as rondevu's router (first match wins) did.
	r.HandleFunc("GET /offers/{a}/{b}", g.getOfferPath)
	r.HandleFunc("DELETE /offers/{offerId}", g.auth(g.deleteOffer))
	r.HandleFunc("POST /offers/{offerId}/answer", g.auth(g.answer))
	r.HandleFunc("POST /offers/{offerId}/ice-candidates", g.auth(g.postCandidates))
	r.HandleFunc("PUT /offers/{offerId}/heartbeat", g.auth(g.heartbeat))
}

func (g *G2) root(w http.ResponseWriter, _ *http.Request) {
	httpx.JSON(w, http.StatusOK, struct {
		Version     string `json:"version"`
		Name        string `json:"name"`
		Description string `json:"description"`
	}{g.s.version, "Rondevu", "Topic-based peer discovery and signaling server"})
}

// auth wraps a handler that needs the caller's peer id.
func (g *G2) auth(h func(w http.ResponseWriter, r *http.Request, peer string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		peer, iv, e := verifyBearer(g.s.credKey, r.Header.Get("Authorization"))
		if e != nil {
			fail(w, e)
			return
		}
		// Only the credential last issued for an id is valid: once a freed id is registered
		// again, its former holder's secret no longer works.
		held, err := g.s.peerIV(r.Context(), peer)
		if err != nil {
			g.s.internal(w, r, err)
			return
		}
		if held != "" && subtle.ConstantTimeCompare([]byte(held), []byte(iv)) != 1 {
			fail(w, errInvalidCreds)
			return
		}
		h(w, r, peer)
	}
}

// register issues a credential. 0.1.3–0.1.4 clients (0.7.10+) may ask for an id of their own
// ({"peerId"}); it is granted while free, and the id is held (peer_ttl, or while it owns live
// offers) so that nobody else can be issued a credential for it meanwhile. An unparsable
// body is no request, as in the original.
func (g *G2) register(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r, g.s.bodyMax)
	if errors.Is(err, errBodyTooLarge) {
		httpx.Error(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(g.s.bodyMax, 10)+" bytes")
		return
	}
	peer, claim := newPeerID(), false
	if f, err := decodeFields(b); err == nil && f["peerId"] != nil {
		var id any
		_ = json.Unmarshal(f["peerId"], &id)
		s, ok := id.(string)
		switch {
		case !ok || s == "":
			httpx.Error(w, http.StatusBadRequest, "Peer ID must be a non-empty string")
			return
		case jsLen(s) > 128:
			httpx.Error(w, http.StatusBadRequest, "Peer ID must be 128 characters or less")
			return
		}
		peer, claim = s, true
	}
	secret, iv, err := sealPeerIV(g.s.credKey, peer, nil)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	now := g.s.nowMS()
	switch err := g.s.db.registerPeer(r.Context(), peer, iv, claim, now, now+g.s.cfg.PeerTTL); {
	case errors.Is(err, errExists):
		httpx.Error(w, http.StatusConflict, "Peer ID is already in use")
		return
	case err != nil:
		g.s.internal(w, r, err)
		return
	}
	g.s.ivs.Add(peer, cachedIV{iv, time.Now()})
	g.s.log.Info("g2 register", "peer", peer, "chosen", claim)
	httpx.JSON(w, http.StatusOK, struct {
		PeerID  string `json:"peerId"`
		Secret  string `json:"secret"`
		Channel string `json:"channel"`
	}{peer, secret, g.s.channel("g2:" + peer)})
}

// pushChannel tells a peer the native channel its answers and candidates are pushed to.
func (g *G2) pushChannel(w http.ResponseWriter, _ *http.Request, peer string) {
	httpx.JSON(w, http.StatusOK, struct {
		PeerID  string `json:"peerId"`
		Channel string `json:"channel"`
	}{peer, g.s.channel("g2:" + peer)})
}

// g2Offer is an offer as G2's listings show it; which fields appear depends on the route.
type g2Offer struct {
	ID         string   `json:"id"`
	PeerID     string   `json:"peerId,omitempty"`
	SDP        string   `json:"sdp,omitempty"`
	Topics     []string `json:"topics"`
	CreatedAt  int64    `json:"createdAt,omitempty"`
	ExpiresAt  int64    `json:"expiresAt"`
	LastSeen   int64    `json:"lastSeen,omitempty"`
	HasSecret  *bool    `json:"hasSecret,omitempty"`
	Info       *string  `json:"info,omitempty"`
	AnswererID string   `json:"answererPeerId,omitempty"`
	AnsweredAt int64    `json:"answeredAt,omitempty"`
}

// public is an offer as discovery shows it to anyone.
func public(o *offer, withPeer bool) g2Offer {
	has := o.SecretHash != ""
	v := g2Offer{ID: o.ID, SDP: o.SDP, Topics: o.Tags, ExpiresAt: o.ExpiresAt, LastSeen: o.LastSeen, HasSecret: &has, Info: o.Info}
	if withPeer {
		v.PeerID = o.Owner
	}
	return v
}

func (g *G2) createOffers(w http.ResponseWriter, r *http.Request, peer string) {
	f, ok := g.s.body(w, r)
	if !ok {
		return
	}
	list, ok := f.list("offers")
	if !ok || len(list) == 0 {
		httpx.Error(w, http.StatusBadRequest, "Missing or invalid required parameter: offers (must be non-empty array)")
		return
	}
	if len(list) > g.s.cfg.MaxOffersPerReq {
		httpx.Error(w, http.StatusBadRequest, "Too many offers. Maximum "+strconv.Itoa(g.s.cfg.MaxOffersPerReq)+" per request")
		return
	}
	now := g.s.nowMS()
	offers := make([]newOffer, len(list))
	echo := make([][]string, len(list))
	for i, raw := range list {
		o, e := g.s.parseG2Offer(r, raw, now)
		if e != nil {
			fail(w, e)
			return
		}
		offers[i], echo[i] = o.newOffer, o.topics
	}
	err := g.s.createOffers(r.Context(), gen2, peer, offers, true, now)
	if e := g.s.quotaError(err); e != nil {
		fail(w, e)
		return
	}
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	type created struct {
		ID        string   `json:"id"`
		PeerID    string   `json:"peerId"`
		Topics    []string `json:"topics"`
		ExpiresAt int64    `json:"expiresAt"`
	}
	out := make([]created, len(offers))
	for i, o := range offers {
		out[i] = created{o.ID, peer, echo[i], o.ExpiresAt}
	}
	g.s.log.Info("g2 offers", "peer", peer, "count", len(out))
	httpx.JSON(w, http.StatusOK, struct {
		Offers []created `json:"offers"`
	}{out})
}

type parsedG2Offer struct {
	newOffer
	topics []string // as the request ordered them, for the echo
}

// parseG2Offer checks one element of POST /offers in rondevu's order (spec A2.4).
func (s *Service) parseG2Offer(r *http.Request, raw json.RawMessage, now int64) (*parsedG2Offer, *apiError) {
	f, err := decodeFields(raw)
	if err != nil {
		return nil, invalid("Each offer must have an sdp field")
	}
	sdp, ok := f.str("sdp")
	if !ok {
		return nil, invalid("Each offer must have an sdp field")
	}
	if len(sdp) > s.cfg.MaxSDPSize {
		return nil, invalid("SDP must be 64KB or less")
	}
	var secret string
	if f.has("secret") {
		if secret, ok = f.str("secret"); !ok {
			return nil, invalid("Secret must be a string")
		}
		if jsLen(secret) > 128 {
			return nil, invalid("Secret must be 128 characters or less")
		}
	}
	var info *string
	if f.has("info") {
		v, ok := f.str("info")
		if !ok {
			return nil, invalid("Info must be a string")
		}
		if jsLen(v) > 128 {
			return nil, invalid("Info must be 128 characters or less")
		}
		info = &v
	}
	rawTopics, ok := f.list("topics")
	if !ok || len(rawTopics) == 0 {
		return nil, invalid("Each offer must have a non-empty topics array")
	}
	if len(rawTopics) > s.cfg.MaxTopicsPerOffer {
		return nil, invalid("Too many topics. Maximum %d per offer", s.cfg.MaxTopicsPerOffer)
	}
	topics, ok := stringsOf(rawTopics)
	if !ok {
		return nil, invalid("Each topic must be a string between 1 and 256 characters")
	}
	for _, t := range topics {
		if t == "" || jsLen(t) > 256 {
			return nil, invalid("Each topic must be a string between 1 and 256 characters")
		}
	}
	var ttl float64
	if f.has("ttl") {
		if ttl, ok = f.num("ttl"); !ok || ttl < 0 {
			return nil, invalid("ttl must be a non-negative number of milliseconds")
		}
	}
	echo := distinct(topics)
	stored := slices.Clone(echo)
	slices.Sort(stored)
	o := &parsedG2Offer{topics: echo, newOffer: newOffer{SDP: sdp, Tags: stored, Info: info, ExpiresAt: now + s.capTTL(int64(ttl))}}
	if secret != "" {
		h, err := auth.HashPassword(r.Context(), secret)
		if err != nil {
			return nil, wire(http.StatusServiceUnavailable, "INTERNAL_ERROR", "server busy, try again")
		}
		o.SecretHash = h
	}
	return o, nil
}

// distinct drops repeated values, keeping the first of each (rondevu answered 500).
func distinct(v []string) []string {
	out := make([]string, 0, len(v))
	for _, s := range v {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (g *G2) getOfferPath(w http.ResponseWriter, r *http.Request) {
	a, b := r.PathValue("a"), r.PathValue("b")
	switch {
	case a == "by-topic":
		g.byTopic(w, r, b)
	case b == "ice-candidates":
		g.auth(g.getCandidates)(w, r)
	default:
		httpx.Error(w, http.StatusNotFound, "404 Not Found")
	}
}

func (g *G2) byTopic(w http.ResponseWriter, r *http.Request, topic string) {
	limit, e := queryInt(r, "limit", 50)
	if e != nil {
		fail(w, e)
		return
	}
	limit = min(limit, 200)
	var filterBits bloom
	if v := r.URL.Query().Get("bloom"); v != "" {
		b, err := atob(v)
		if err != nil {
			httpx.Error(w, http.StatusBadRequest, "Invalid bloom filter format")
			return
		}
		filterBits = b
	}
	at := g.s.now()
	listed, ok := g.s.topics.get(topic, at)
	total := -1 // counted from listed
	if !ok {
		var err error
		if listed, total, err = g.listTopic(r.Context(), topic, at, filterBits, limit); err != nil {
			g.s.internal(w, r, err)
			return
		}
	}
	page := make([][]byte, 0, min(limit, len(listed)))
	size, n := 0, 0
	for _, o := range listed {
		if filterBits.has(o.owner) {
			continue
		}
		n++
		if len(page) < limit {
			page = append(page, o.json)
			size += len(o.json) + 1
		}
	}
	if total < 0 {
		total = n
	}
	// The answer is written from the offers' encoded JSON: encoding them was a fifth of a
	// request's CPU, and a kept listing's offers are encoded once.
	b, _ := json.Marshal(topic)
	out := make([]byte, 0, len(b)+size+64)
	out = append(append(append(out, `{"topic":`...), b...), `,"offers":[`...)
	for i, o := range page {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, o...)
	}
	out = append(strconv.AppendInt(append(out, `],"total":`...), int64(total), 10), `,"returned":`...)
	httpx.RawJSON(w, http.StatusOK, append(strconv.AppendInt(out, int64(len(page)), 10), '}'))
}

// listTopic reads topic's live unanswered offers, newest first, and keeps them (topics) when
// they are few enough; total is then -1 and the caller filters and pages them. A topic with
// more is answered by its page alone: the first limit offers that filterBits lets through,
// with total the count of all it lets through.
func (g *G2) listTopic(ctx context.Context, topic string, at time.Time, filterBits bloom, limit int) (listed []listedOffer, total int, err error) {
	version := g.s.topics.version()
	f := filter{Gen: gen2, Now: at.UnixMilli(), AnyTags: []string{topic}, Available: true}
	// One pass over (id, owner), newest first: SDPs are loaded only for the offers answered
	// with, or for all of them when the topic is kept.
	var all, page []string
	err = g.s.db.owners(ctx, f, func(id, owner string) {
		if len(all) <= topicMaxOffers {
			all = append(all, id)
		}
		if filterBits.has(owner) {
			return
		}
		total++
		if len(page) < limit {
			page = append(page, id)
		}
	})
	if err != nil {
		return nil, 0, err
	}
	keep := len(all) <= topicMaxOffers
	if !keep {
		all = page
	}
	var offers []*offer
	if len(all) > 0 {
		// By id alone: the topic's test was made above, and repeating it here probed the tag
		// index once per offer of the topic, not of the page.
		f.AnyTags, f.IDs = nil, all
		if offers, err = g.s.db.listOffers(ctx, f, "o.last_seen DESC", -1, 0); err != nil {
			return nil, 0, err
		}
	}
	if keep {
		return g.s.topics.put(topic, version, at, offers), -1, nil
	}
	listed = make([]listedOffer, len(offers))
	for i, o := range offers {
		listed[i] = listOffer(o)
	}
	return listed, total, nil
}

func (g *G2) topics(w http.ResponseWriter, r *http.Request) {
	limit, e := queryInt(r, "limit", 50)
	if e == nil {
		limit = min(limit, 200)
	}
	offset, e2 := queryInt(r, "offset", 0)
	if e == nil {
		e = e2
	}
	if e != nil {
		fail(w, e)
		return
	}
	prefix := r.URL.Query().Get("startsWith")
	counts, total, err := g.s.db.tagCounts(r.Context(), filter{Gen: gen2, Now: g.s.nowMS(), Available: true}, prefix, true, limit, offset)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	type topic struct {
		Topic       string `json:"topic"`
		ActivePeers int    `json:"activePeers"`
	}
	out := make([]topic, len(counts))
	for i, c := range counts {
		out[i] = topic{c.Tag, c.Count}
	}
	httpx.JSON(w, http.StatusOK, struct {
		Topics     []topic `json:"topics"`
		Total      int     `json:"total"`
		Limit      int     `json:"limit"`
		Offset     int     `json:"offset"`
		StartsWith string  `json:"startsWith,omitempty"`
	}{out, total, limit, offset, prefix})
}

func (g *G2) peerOffers(w http.ResponseWriter, r *http.Request) {
	peer := r.PathValue("peerId")
	offers, err := g.s.db.listOffers(r.Context(), filter{Gen: gen2, Now: g.s.nowMS(), Owner: peer, Available: true}, "o.last_seen DESC", -1, 0)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	out := []g2Offer{}
	topics := []string{}
	for _, o := range offers {
		out = append(out, public(o, false))
		for _, t := range o.Tags {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	httpx.JSON(w, http.StatusOK, struct {
		PeerID string    `json:"peerId"`
		Offers []g2Offer `json:"offers"`
		Topics []string  `json:"topics"`
	}{peer, out, topics})
}

func (g *G2) mine(w http.ResponseWriter, r *http.Request, peer string) {
	offers, err := g.s.db.listOffers(r.Context(), filter{Gen: gen2, Now: g.s.nowMS(), Owner: peer}, "o.last_seen DESC", -1, 0)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	out := []g2Offer{}
	for _, o := range offers {
		out = append(out, g2Offer{ID: o.ID, SDP: o.SDP, Topics: o.Tags, CreatedAt: o.CreatedAt, ExpiresAt: o.ExpiresAt,
			LastSeen: o.LastSeen, Info: o.Info, AnswererID: o.Answerer, AnsweredAt: o.AnsweredAt})
	}
	httpx.JSON(w, http.StatusOK, struct {
		PeerID string    `json:"peerId"`
		Offers []g2Offer `json:"offers"`
	}{peer, out})
}

func (g *G2) deleteOffer(w http.ResponseWriter, r *http.Request, peer string) {
	ok, err := g.s.db.deleteOffer(r.Context(), gen2, r.PathValue("offerId"), peer)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	if !ok {
		httpx.Error(w, http.StatusNotFound, "Offer not found or not authorized")
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]bool{"deleted": true})
}

func (g *G2) heartbeat(w http.ResponseWriter, r *http.Request, peer string) {
	now := g.s.nowMS()
	o, ok := g.live(w, r, r.PathValue("offerId"), http.StatusNotFound, now)
	if !ok {
		return
	}
	if o.Owner != peer {
		httpx.Error(w, http.StatusForbidden, "Not authorized to update this offer")
		return
	}
	if err := g.s.db.touch(r.Context(), gen2, o.ID, now); err != nil {
		g.s.internal(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, struct {
		ID       string `json:"id"`
		LastSeen int64  `json:"lastSeen"`
	}{o.ID, now})
}

// live loads a live offer's head (getOfferHead: no SDPs), answering "not found" with status
// itself.
func (g *G2) live(w http.ResponseWriter, r *http.Request, id string, notFound int, now int64) (*offer, bool) {
	o, err := g.s.db.getOfferHead(r.Context(), gen2, id, now)
	if errors.Is(err, errNotFound) {
		httpx.Error(w, notFound, "Offer not found or expired")
		return nil, false
	}
	if err != nil {
		g.s.internal(w, r, err)
		return nil, false
	}
	return o, true
}

// g2Answer is an answer as GET /offers/answers and the push channel show it.
type g2Answer struct {
	Type       string   `json:"type,omitempty"` // push only
	OfferID    string   `json:"offerId"`
	AnswererID string   `json:"answererId"`
	SDP        string   `json:"sdp"`
	AnsweredAt int64    `json:"answeredAt"`
	Topics     []string `json:"topics"`
}

func (g *G2) answer(w http.ResponseWriter, r *http.Request, peer string) {
	f, ok := g.s.body(w, r)
	if !ok {
		return
	}
	sdp, ok := f.str("sdp")
	if !ok || sdp == "" {
		httpx.Error(w, http.StatusBadRequest, "Missing or invalid required parameter: sdp")
		return
	}
	if len(sdp) > g.s.cfg.MaxSDPSize {
		httpx.Error(w, http.StatusBadRequest, "SDP must be 64KB or less")
		return
	}
	var secret string
	if f.has("secret") {
		if secret, ok = f.str("secret"); !ok {
			httpx.Error(w, http.StatusBadRequest, "Secret must be a string")
			return
		}
	}
	now := g.s.nowMS()
	// rondevu answered a missing offer here with 400, elsewhere with 404; clients match the text.
	o, ok := g.live(w, r, r.PathValue("offerId"), http.StatusBadRequest, now)
	if !ok {
		return
	}
	if o.SecretHash != "" {
		match, err := auth.CheckPassword(r.Context(), o.SecretHash, secret)
		if err != nil && !errors.Is(err, auth.ErrBadHash) {
			g.s.internal(w, r, err)
			return
		}
		if !match {
			httpx.Error(w, http.StatusBadRequest, "Invalid or missing secret")
			return
		}
	}
	at, err := g.s.db.answer(r.Context(), gen2, o.ID, "", peer, sdp, nil, 0, now, false)
	switch {
	case errors.Is(err, errNotFound):
		httpx.Error(w, http.StatusBadRequest, "Offer not found or expired")
		return
	case errors.Is(err, errAlreadyAnswered):
		httpx.Error(w, http.StatusBadRequest, "Offer already answered")
		return
	case err != nil:
		g.s.internal(w, r, err)
		return
	}
	g.s.log.Info("g2 answer", "offer", o.ID, "answerer", peer)
	g.s.publish(r.Context(), g.s.channel("g2:"+o.Owner), g2Answer{pushAnswer, o.ID, peer, sdp, at, o.Tags})
	httpx.JSON(w, http.StatusOK, struct {
		OfferID    string `json:"offerId"`
		AnswererID string `json:"answererId"`
		AnsweredAt int64  `json:"answeredAt"`
	}{o.ID, peer, at})
}

func (g *G2) answers(w http.ResponseWriter, r *http.Request, peer string) {
	offers, err := g.s.db.listOffers(r.Context(), filter{Gen: gen2, Now: g.s.nowMS(), Owner: peer, AnsweredOnly: true}, "o.answered_at DESC", -1, 0)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	out := []g2Answer{}
	for _, o := range offers {
		out = append(out, g2Answer{OfferID: o.ID, AnswererID: o.Answerer, SDP: o.AnswerSDP, AnsweredAt: o.AnsweredAt, Topics: o.Tags})
	}
	httpx.JSON(w, http.StatusOK, struct {
		Answers []g2Answer `json:"answers"`
	}{out})
}

// g2Candidate is a candidate as G2 shows it.
type g2Candidate struct {
	Candidate json.RawMessage `json:"candidate"`
	PeerID    string          `json:"peerId"`
	Role      string          `json:"role"`
	CreatedAt int64           `json:"createdAt"`
}

func g2Candidates(cs []candidate) []g2Candidate {
	out := make([]g2Candidate, len(cs))
	for i, c := range cs {
		out[i] = g2Candidate{c.Candidate, c.Sender, c.Role, c.CreatedAt}
	}
	return out
}

func (g *G2) postCandidates(w http.ResponseWriter, r *http.Request, peer string) {
	f, ok := g.s.body(w, r)
	if !ok {
		return
	}
	cands, ok := f.list("candidates")
	if !ok || len(cands) == 0 {
		httpx.Error(w, http.StatusBadRequest, "Missing or invalid required parameter: candidates (must be non-empty array)")
		return
	}
	cands = compactAll(cands)
	if e := g.s.checkCandidates(cands, false); e != nil {
		fail(w, e)
		return
	}
	now := g.s.nowMS()
	o, ok := g.live(w, r, r.PathValue("offerId"), http.StatusNotFound, now)
	if !ok {
		return
	}
	role := partyRole(o, peer)
	if role == "" {
		httpx.Error(w, http.StatusForbidden, "Not authorized to post ICE candidates for this offer")
		return
	}
	stored, err := g.s.db.addCandidates(r.Context(), gen2, o.ID, peer, role, cands, g.s.cfg.MaxCandidatesOff, now)
	if e := candidateLimit(err); e != nil {
		fail(w, e)
		return
	}
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	if to := o.counterpart(role); to != "" {
		g.s.publish(r.Context(), g.s.channel("g2:"+to), struct {
			Type       string        `json:"type"`
			OfferID    string        `json:"offerId"`
			Candidates []g2Candidate `json:"candidates"`
		}{pushCandidates, o.ID, g2Candidates(stored)})
	}
	httpx.JSON(w, http.StatusOK, struct {
		OfferID string `json:"offerId"`
		Added   int    `json:"candidatesAdded"`
	}{o.ID, len(stored)})
}

func (g *G2) getCandidates(w http.ResponseWriter, r *http.Request, peer string) {
	var since int64
	if v := r.URL.Query().Get("since"); v != "" {
		n, ok := parseIntPrefix(v)
		if !ok {
			httpx.Error(w, http.StatusBadRequest, "since must be a number of milliseconds")
			return
		}
		since = n
	}
	o, ok := g.live(w, r, r.PathValue("a"), http.StatusNotFound, g.s.nowMS())
	if !ok {
		return
	}
	role := partyRole(o, peer)
	if role == "" {
		httpx.Error(w, http.StatusForbidden, "Not authorized to view ICE candidates for this offer")
		return
	}
	cs, err := g.s.db.candidates(r.Context(), gen2, []string{o.ID}, otherRole(role), since)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, struct {
		OfferID    string        `json:"offerId"`
		Candidates []g2Candidate `json:"candidates"`
	}{o.ID, g2Candidates(cs)})
}
