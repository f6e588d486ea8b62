package signal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/switchboard/switchboard/internal/httpx"
)

// G4 is rondevu's newest API (server 0.5.26, spec A1): one POST /rpc endpoint taking a batch
// of calls, each authenticated by a stateless Ed25519 signature, with tag-based discovery.
// Fixed holes (spec A4), none changing a shape the client reads: only an offer's owner and
// answerer may add candidates to it; a lost answer race is OFFER_ALREADY_ANSWERED, and an
// owner cannot answer its own offer; counts and limits ignore expired rows; a malformed nonce
// is an auth error and the client's 32-hex fallback nonce is accepted; a timestamp header
// without digits is missing, not NaN; the rate limit keys on the client address resolved
// through trusted proxies, and applies without proxy headers too; getOfferAnswer returns
// matchedTags and getIceCandidates the role; candidate times never let a poll cursor skip
// a row. getPushChannel is an extra method (see push.go).
type G4 struct{ s *Service }

// G4 returns the G4 surface.
func (s *Service) G4() *G4 { return &G4{s} }

// Name is the app's name in logs.
func (*G4) Name() string { return "signal-g4" }

// Routes mounts G4's paths below its prefix.
func (g *G4) Routes(r *httpx.Router) {
	r.HandleFunc("GET /{$}", g.root)
	r.HandleFunc("GET /health", g.s.health)
	r.HandleFunc("POST /rpc", g.rpc)
	r.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		httpx.Error(w, http.StatusNotFound, "Not found. Use POST /rpc for all API calls.")
	})
}

func (g *G4) root(w http.ResponseWriter, r *http.Request) {
	n, err := g.s.db.countOffers(r.Context(), filter{Gen: gen4, Now: g.s.nowMS()}, false)
	if err != nil {
		g.s.internal(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{
		"version": g.s.version, "name": "Rondevu",
		"description": "WebRTC signaling with RPC interface and Ed25519 signature-based authentication",
		"stats":       map[string]int{"offers": n},
	})
}

// rpcResult is one element of the answer array.
type rpcResult struct {
	Success   bool   `json:"success"`
	Result    any    `json:"result,omitempty"`
	Error     string `json:"error,omitempty"`
	ErrorCode string `json:"errorCode,omitempty"`
}

func failed(e *apiError) rpcResult { return rpcResult{Error: e.msg, ErrorCode: e.code} }

// batchError answers the whole request with one error per element (or one element).
func batchError(w http.ResponseWriter, status, n int, e *apiError) {
	out := make([]rpcResult, max(n, 1))
	for i := range out {
		out[i] = failed(e)
	}
	httpx.JSON(w, status, out)
}

// call is one element of a batch.
type call struct {
	method    string
	hasMethod bool
	params    fields // members of params; empty when params is not an object
	parsed    any    // params as parsed, for the signature ({} when absent)
	auth      json.RawMessage
}

func parseCall(raw json.RawMessage) call {
	var c call
	f, err := decodeFields(raw)
	if err != nil {
		return c
	}
	c.method, c.hasMethod = f.str("method")
	c.auth = f["auth"]
	c.params, c.parsed = fields{}, map[string]any{}
	if f.has("params") && !bytes.Equal(f["params"], []byte("false")) && !bytes.Equal(f["params"], []byte(`""`)) && !bytes.Equal(f["params"], []byte("0")) {
		_ = json.Unmarshal(f["params"], &c.parsed)
		if p, err := decodeFields(f["params"]); err == nil {
			c.params = p
		}
	}
	return c
}

// operations counts what a call asks the store to do: its offers or candidates, else 1.
func (c call) operations() int {
	switch c.method {
	case "publishOffer":
		if l, ok := c.params.list("offers"); ok {
			return len(l)
		}
	case "addIceCandidates":
		if l, ok := c.params.list("candidates"); ok {
			return len(l)
		}
	}
	return 1
}

// g4Method is one RPC method; caller is the verified public key (or, for methods without
// authentication, the unverified one used for self-exclusion).
type g4Method struct {
	auth bool
	fn   func(ctx context.Context, caller string, p fields) (any, *apiError)
}

func (g *G4) methods() map[string]g4Method {
	return map[string]g4Method{
		"discover":          {false, g.discover},
		"countOffersByTags": {false, g.countOffersByTags},
		"publishOffer":      {true, g.publishOffer},
		"deleteOffer":       {true, g.deleteOffer},
		"updateOfferTags":   {true, g.updateOfferTags},
		"answerOffer":       {true, g.answerOffer},
		"getOfferAnswer":    {true, g.getOfferAnswer},
		"poll":              {true, g.poll},
		"addIceCandidates":  {true, g.addIceCandidates},
		"getIceCandidates":  {true, g.getIceCandidates},
		"getPushChannel":    {true, g.getPushChannel},
	}
}

func (g *G4) rpc(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, g.s.bodyMax)
	if errors.Is(err, errBodyTooLarge) {
		batchError(w, http.StatusRequestEntityTooLarge, 1, wire(0, "BATCH_TOO_LARGE", "Request body too large (max %d bytes)", g.s.bodyMax))
		return
	}
	var batch []json.RawMessage
	if err != nil || !json.Valid(body) {
		batchError(w, http.StatusBadRequest, 1, invalid("Invalid JSON in request body"))
		return
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '[' || json.Unmarshal(body, &batch) != nil {
		batchError(w, http.StatusBadRequest, 1, invalid("Request must be an array of RPC calls"))
		return
	}
	if len(batch) == 0 {
		batchError(w, http.StatusBadRequest, 1, invalid("Empty request array"))
		return
	}
	if len(batch) > g.s.cfg.MaxBatchSize {
		batchError(w, http.StatusRequestEntityTooLarge, 1, wire(0, "BATCH_TOO_LARGE", "Too many requests in batch (max %d)", g.s.cfg.MaxBatchSize))
		return
	}
	if g.s.rpcLimit != nil && !g.s.rpcLimit.Allow(httpx.ClientIP(r)) {
		batchError(w, http.StatusOK, len(batch), wire(0, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded. Maximum %d requests per second per IP.", g.s.cfg.RequestsPerIP))
		return
	}
	headers := headerCredentials(r)
	calls := make([]call, len(batch))
	ops := 0
	for i, raw := range batch {
		calls[i] = parseCall(raw)
		ops += calls[i].operations()
	}
	if ops > g.s.cfg.MaxTotalOps {
		batchError(w, http.StatusOK, len(batch), wire(0, "BATCH_TOO_LARGE", "Total operations across batch exceed limit: %d > %d", ops, g.s.cfg.MaxTotalOps))
		return
	}
	methods := g.methods()
	out := make([]rpcResult, len(calls))
	for i, c := range calls {
		out[i] = g.dispatch(r.Context(), methods, c, headers)
	}
	httpx.JSON(w, http.StatusOK, out)
}

func (g *G4) dispatch(ctx context.Context, methods map[string]g4Method, c call, headers credentials) rpcResult {
	if !c.hasMethod || c.method == "" {
		return failed(invalid("Missing or invalid method"))
	}
	m, ok := methods[c.method]
	if !ok {
		return failed(wire(0, "UNKNOWN_METHOD", "Unknown method: %s", c.method))
	}
	creds := headers.merge(c.auth)
	caller := creds.PublicKey
	if m.auth {
		var e *apiError
		if caller, e = g.s.verify(ctx, creds, c.method, c.parsed); e != nil {
			return failed(e)
		}
	}
	res, e := m.fn(ctx, caller, c.params)
	if e != nil {
		g.s.log.Debug("g4 call", "method", c.method, "caller", caller, "error", e.code)
		return failed(e)
	}
	g.s.log.Debug("g4 call", "method", c.method, "caller", caller)
	return rpcResult{Success: true, Result: res}
}

// internalError logs err and returns rondevu's generic error.
func (s *Service) internalError(err error) *apiError {
	s.log.Error("signal rpc", "err", err)
	return wire(http.StatusInternalServerError, "INTERNAL_ERROR", "Internal server error")
}

var tagPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)

func tagError(format string, a ...any) *apiError {
	return wire(http.StatusBadRequest, "INVALID_TAG", format, a...)
}

// tags validates a tags param (spec A1.5).
func tags(p fields) ([]string, *apiError) {
	raw, ok := p.list("tags")
	if !ok {
		return nil, tagError("Tags must be an array")
	}
	if len(raw) == 0 {
		return nil, tagError("At least one tag is required")
	}
	if len(raw) > 20 {
		return nil, tagError("Maximum 20 tags allowed")
	}
	out := make([]string, len(raw))
	for i, v := range raw {
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &out[i]) != nil {
			return nil, tagError("Tag %d: Tag must be a string", i+1)
		}
		t := out[i]
		switch {
		case t == "":
			return nil, tagError("Tag %d: Tag must be at least 1 character", i+1)
		case jsLen(t) > 64:
			return nil, tagError("Tag %d: Tag must be at most 64 characters", i+1)
		case len(t) == 1 && !tagPattern.MatchString(t):
			return nil, tagError("Tag %d: Tag must be lowercase alphanumeric", i+1)
		case !tagPattern.MatchString(t):
			return nil, tagError("Tag %d: Tag must be lowercase alphanumeric with optional dots/dashes, and start/end with alphanumeric", i+1)
		}
	}
	for i := range out {
		if slices.Contains(out[:i], out[i]) {
			return nil, tagError("Duplicate tags are not allowed")
		}
	}
	return out, nil
}

// g4Offer is an offer as discover shows it.
type g4Offer struct {
	OfferID   string   `json:"offerId"`
	PublicKey string   `json:"publicKey"`
	Tags      []string `json:"tags"`
	SDP       string   `json:"sdp"`
	CreatedAt int64    `json:"createdAt"`
	ExpiresAt int64    `json:"expiresAt"`
}

func g4View(o *offer) g4Offer {
	return g4Offer{o.ID, o.Owner, o.Tags, o.SDP, o.CreatedAt, o.ExpiresAt}
}

// nonNegativeInt reads an optional integer param; present reports whether it was given
// (null counts as given, as rondevu's !== undefined did).
func nonNegativeInt(p fields, name string) (n int, present bool, e *apiError) {
	raw, ok := p[name]
	if !ok {
		return 0, false, nil
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || bytes.Equal(raw, []byte("null")) || f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, true, invalid("%s must be a non-negative integer", name)
	}
	return int(f), true, nil
}

func (g *G4) discover(ctx context.Context, caller string, p fields) (any, *apiError) {
	t, e := tags(p)
	if e != nil {
		return nil, e
	}
	limit, paged, e := nonNegativeInt(p, "limit")
	if e != nil {
		return nil, e
	}
	offset, _, e := nonNegativeInt(p, "offset")
	if e != nil {
		return nil, e
	}
	f := filter{Gen: gen4, Now: g.s.nowMS(), AnyTags: t, NotOwner: caller, Available: true}
	if !paged {
		offers, err := g.s.db.listOffers(ctx, f, "random", 1, 0)
		if err != nil {
			return nil, g.s.internalError(err)
		}
		if len(offers) == 0 {
			return nil, wire(http.StatusNotFound, "OFFER_NOT_FOUND", "No offers found matching tags")
		}
		return g4View(offers[0]), nil
	}
	limit = min(max(limit, 1), 100)
	offers, err := g.s.db.listOffers(ctx, f, "o.created_at DESC", limit, offset)
	if err != nil {
		return nil, g.s.internalError(err)
	}
	out := make([]g4Offer, len(offers))
	for i, o := range offers {
		out[i] = g4View(o)
	}
	return struct {
		Offers []g4Offer `json:"offers"`
		Count  int       `json:"count"`
		Limit  int       `json:"limit"`
		Offset int       `json:"offset"`
	}{out, len(out), limit, offset}, nil
}

// orderedCounts renders {"tag":n,…} in the request's order.
type orderedCounts struct {
	keys []string
	n    []int
}

func (o orderedCounts) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		fmt.Fprintf(&b, "%s:%d", kb, o.n[i])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (g *G4) countOffersByTags(ctx context.Context, _ string, p fields) (any, *apiError) {
	t, e := tags(p)
	if e != nil {
		return nil, e
	}
	unique := bytes.Equal(p["unique"], []byte("true"))
	counts := orderedCounts{keys: t, n: make([]int, len(t))}
	now := g.s.nowMS()
	for i, tag := range t {
		n, err := g.s.db.countOffers(ctx, filter{Gen: gen4, Now: now, AnyTags: []string{tag}, Available: true}, unique)
		if err != nil {
			return nil, g.s.internalError(err)
		}
		counts.n[i] = n
	}
	return map[string]any{"counts": counts}, nil
}

func (g *G4) publishOffer(ctx context.Context, caller string, p fields) (any, *apiError) {
	t, e := tags(p)
	if e != nil {
		return nil, e
	}
	list, ok := p.list("offers")
	if !ok || len(list) == 0 {
		return nil, wire(http.StatusBadRequest, "MISSING_PARAMS", "Must provide at least one offer")
	}
	if len(list) > g.s.cfg.MaxOffersPerReq {
		return nil, wire(http.StatusBadRequest, "TOO_MANY_OFFERS", "Too many offers (max %d)", g.s.cfg.MaxOffersPerReq)
	}
	now := g.s.nowMS()
	expires := now + g.s.cfg.OfferDefaultTTL
	if p.has("ttl") {
		ttl, ok := p.num("ttl")
		if !ok || ttl < 0 {
			return nil, invalid("TTL must be a non-negative number")
		}
		expires = now + min(max(int64(math.Min(ttl, math.MaxInt64/4)), g.s.cfg.OfferMinTTL), g.s.cfg.OfferMaxTTL)
	}
	offers := make([]newOffer, len(list))
	for i, raw := range list {
		f, err := decodeFields(raw)
		if err != nil {
			return nil, invalid("Invalid offer at index %d: must be an object", i)
		}
		sdp, ok := f.str("sdp")
		if !ok || sdp == "" {
			return nil, wire(http.StatusBadRequest, "INVALID_SDP", "Invalid offer at index %d: missing or invalid SDP", i)
		}
		if strings.TrimSpace(sdp) == "" {
			return nil, wire(http.StatusBadRequest, "INVALID_SDP", "Invalid offer at index %d: SDP cannot be empty", i)
		}
		if len(sdp) > g.s.cfg.MaxSDPSize {
			return nil, wire(http.StatusBadRequest, "SDP_TOO_LARGE", "SDP too large at index %d (max %d bytes)", i, g.s.cfg.MaxSDPSize)
		}
		offers[i] = newOffer{SDP: sdp, Tags: t, ExpiresAt: expires}
	}
	err := g.s.createOffers(ctx, gen4, caller, offers, true, now)
	if e := g.s.quotaError(err); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, g.s.internalError(err)
	}
	g.s.log.Info("g4 offers", "owner", caller, "count", len(offers), "tags", t)
	type published struct {
		OfferID   string `json:"offerId"`
		SDP       string `json:"sdp"`
		CreatedAt int64  `json:"createdAt"`
		ExpiresAt int64  `json:"expiresAt"`
	}
	out := make([]published, len(offers))
	for i, o := range offers {
		out[i] = published{o.ID, o.SDP, now, o.ExpiresAt}
	}
	return map[string]any{"publicKey": caller, "tags": t, "offers": out, "createdAt": now, "expiresAt": expires}, nil
}

// offerID reads the offerId param.
func offerID(p fields) (string, *apiError) {
	id, ok := p.str("offerId")
	if !ok || id == "" {
		return "", invalid("offerId must be a non-empty string")
	}
	return id, nil
}

func (g *G4) deleteOffer(ctx context.Context, caller string, p fields) (any, *apiError) {
	id, e := offerID(p)
	if e != nil {
		return nil, e
	}
	ok, err := g.s.db.deleteOffer(ctx, gen4, id, caller)
	if err != nil {
		return nil, g.s.internalError(err)
	}
	if !ok {
		return nil, wire(http.StatusForbidden, "NOT_AUTHORIZED", "Offer not found or not owned by this identity")
	}
	return map[string]bool{"success": true}, nil
}

func (g *G4) updateOfferTags(ctx context.Context, caller string, p fields) (any, *apiError) {
	t, e := tags(p)
	if e != nil {
		return nil, e
	}
	n, err := g.s.db.replaceTags(ctx, gen4, caller, t, g.s.nowMS())
	if err != nil {
		return nil, g.s.internalError(err)
	}
	return map[string]any{"success": true, "count": n}, nil
}

var errOfferNotFound = wire(http.StatusNotFound, "OFFER_NOT_FOUND", "Offer not found")

// liveOffer loads a live G4 offer.
func (g *G4) liveOffer(ctx context.Context, id string) (*offer, *apiError) {
	return g.load(ctx, id, g.s.db.getOffer)
}

// liveHead loads a live G4 offer's head (getOfferHead: no SDPs).
func (g *G4) liveHead(ctx context.Context, id string) (*offer, *apiError) {
	return g.load(ctx, id, g.s.db.getOfferHead)
}

func (g *G4) load(ctx context.Context, id string, get func(context.Context, int, string, int64) (*offer, error)) (*offer, *apiError) {
	o, err := get(ctx, gen4, id, g.s.nowMS())
	if errors.Is(err, errNotFound) {
		return nil, errOfferNotFound
	}
	if err != nil {
		return nil, g.s.internalError(err)
	}
	return o, nil
}

// partyOffer loads the head of a live offer of which caller is a party (liveHead), and
// caller's role on it.
func (g *G4) partyOffer(ctx context.Context, id, caller, denied string) (*offer, string, *apiError) {
	o, e := g.liveHead(ctx, id)
	if e != nil {
		return nil, "", e
	}
	role := partyRole(o, caller)
	if role == "" {
		return nil, "", wire(http.StatusForbidden, "NOT_AUTHORIZED", "%s", denied)
	}
	return o, role, nil
}

// g4Answer is an answer as poll, getOfferAnswer and the push channel show it.
type g4Answer struct {
	Type        string   `json:"type,omitempty"` // push only
	OfferID     string   `json:"offerId"`
	Answerer    string   `json:"answererPublicKey"`
	SDP         string   `json:"sdp"`
	AnsweredAt  int64    `json:"answeredAt"`
	MatchedTags []string `json:"matchedTags,omitempty"`
}

func (g *G4) answerOffer(ctx context.Context, caller string, p fields) (any, *apiError) {
	id, e := offerID(p)
	if e != nil {
		return nil, e
	}
	sdp, ok := p.str("sdp")
	if !ok || sdp == "" {
		return nil, wire(http.StatusBadRequest, "INVALID_SDP", "Invalid SDP")
	}
	if len(sdp) > g.s.cfg.MaxSDPSize {
		return nil, wire(http.StatusBadRequest, "SDP_TOO_LARGE", "SDP too large (max %d bytes)", g.s.cfg.MaxSDPSize)
	}
	var matched []string
	if p.has("matchedTags") {
		raw, ok := p.list("matchedTags")
		if !ok {
			return nil, invalid("matchedTags must be an array")
		}
		if matched, ok = stringsOf(raw); !ok {
			return nil, invalid("matchedTags must be an array of strings")
		}
	}
	o, e := g.liveHead(ctx, id)
	if e != nil {
		return nil, e
	}
	if o.Answered {
		return nil, wire(http.StatusConflict, "OFFER_ALREADY_ANSWERED", "Offer already answered")
	}
	if o.Owner == caller {
		return nil, wire(http.StatusForbidden, "NOT_AUTHORIZED", "Cannot answer your own offer")
	}
	var foreign []string
	for _, t := range matched {
		if !slices.Contains(o.Tags, t) {
			foreign = append(foreign, t)
		}
	}
	if len(foreign) > 0 {
		return nil, invalid("matchedTags contains tags not on offer: %s", strings.Join(foreign, ", "))
	}
	now := g.s.nowMS()
	at, err := g.s.db.answer(ctx, gen4, id, "", caller, sdp, matched, now+g.s.cfg.AnsweredOfferTTL, now, false)
	switch {
	case errors.Is(err, errNotFound):
		return nil, errOfferNotFound
	case errors.Is(err, errAlreadyAnswered):
		return nil, wire(http.StatusConflict, "OFFER_ALREADY_ANSWERED", "Offer already answered")
	case err != nil:
		return nil, g.s.internalError(err)
	}
	g.s.log.Info("g4 answer", "offer", id, "answerer", caller)
	g.s.publish(ctx, g.s.channel("g4:"+o.Owner), g4Answer{pushAnswer, id, caller, sdp, at, matched})
	return map[string]any{"success": true, "offerId": id}, nil
}

func (g *G4) getOfferAnswer(ctx context.Context, caller string, p fields) (any, *apiError) {
	id, e := offerID(p)
	if e != nil {
		return nil, e
	}
	o, e := g.liveOffer(ctx, id)
	if e != nil {
		return nil, e
	}
	if o.Owner != caller {
		return nil, wire(http.StatusForbidden, "NOT_AUTHORIZED", "Not authorized to access this offer")
	}
	if !o.Answered {
		return nil, wire(http.StatusNotFound, "OFFER_NOT_ANSWERED", "Offer not yet answered")
	}
	return g4Answer{OfferID: o.ID, Answerer: o.Answerer, SDP: o.AnswerSDP, AnsweredAt: o.AnsweredAt, MatchedTags: o.MatchedTags}, nil
}

// since reads the optional since param (default 0).
func since(p fields) (int64, *apiError) {
	if _, ok := p["since"]; !ok {
		return 0, nil
	}
	f, ok := p.num("since")
	if !ok || f < 0 || math.IsInf(f, 0) {
		return 0, invalid("Invalid since parameter: must be a non-negative number")
	}
	return int64(math.Min(f, math.MaxInt64/2)), nil
}

// g4Candidate is a candidate's full record, as poll and the push channel show it.
type g4Candidate struct {
	ID        int64           `json:"id"`
	OfferID   string          `json:"offerId"`
	PublicKey string          `json:"publicKey"`
	Role      string          `json:"role"`
	Candidate json.RawMessage `json:"candidate"`
	CreatedAt int64           `json:"createdAt"`
}

func g4Record(c candidate) g4Candidate {
	return g4Candidate{c.ID, c.OfferID, c.Sender, c.Role, c.Candidate, c.CreatedAt}
}

func (g *G4) poll(ctx context.Context, caller string, p fields) (any, *apiError) {
	after, e := since(p)
	if e != nil {
		return nil, e
	}
	now := g.s.nowMS()
	answered, err := g.s.db.listOffers(ctx, filter{Gen: gen4, Now: now, Owner: caller, AnsweredOnly: true}, "o.answered_at DESC", -1, 0)
	if err != nil {
		return nil, g.s.internalError(err)
	}
	answers := []g4Answer{}
	for _, o := range answered {
		if o.AnsweredAt > after {
			answers = append(answers, g4Answer{OfferID: o.ID, Answerer: o.Answerer, SDP: o.AnswerSDP, AnsweredAt: o.AnsweredAt, MatchedTags: o.MatchedTags})
		}
	}
	cands, err := g.s.db.pollCandidates(ctx, gen4, caller, after, now)
	if err != nil {
		return nil, g.s.internalError(err)
	}
	ice := map[string][]g4Candidate{}
	for _, c := range cands {
		ice[c.OfferID] = append(ice[c.OfferID], g4Record(c))
	}
	return map[string]any{"answers": answers, "iceCandidates": ice}, nil
}

func (g *G4) addIceCandidates(ctx context.Context, caller string, p fields) (any, *apiError) {
	id, e := offerID(p)
	if e != nil {
		return nil, e
	}
	cands, ok := p.list("candidates")
	if !ok || len(cands) == 0 {
		return nil, wire(http.StatusBadRequest, "MISSING_PARAMS", "Missing or invalid required parameter: candidates")
	}
	cands = compactAll(cands)
	if e := g.s.checkCandidates(cands, true); e != nil {
		return nil, e
	}
	o, role, e := g.partyOffer(ctx, id, caller, "Not authorized to add ICE candidates for this offer")
	if e != nil {
		return nil, e
	}
	stored, err := g.s.db.addCandidates(ctx, gen4, id, caller, role, cands, g.s.cfg.MaxCandidatesOff, g.s.nowMS())
	if e := candidateLimit(err); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, g.s.internalError(err)
	}
	if to := o.counterpart(role); to != "" {
		recs := make([]g4Candidate, len(stored))
		for i, c := range stored {
			recs[i] = g4Record(c)
		}
		g.s.publish(ctx, g.s.channel("g4:"+to), map[string]any{"type": pushCandidates, "offerId": id, "candidates": recs})
	}
	return map[string]any{"count": len(stored), "offerId": id}, nil
}

func (g *G4) getIceCandidates(ctx context.Context, caller string, p fields) (any, *apiError) {
	id, e := offerID(p)
	if e != nil {
		return nil, e
	}
	after, e := since(p)
	if e != nil {
		return nil, e
	}
	_, role, e := g.partyOffer(ctx, id, caller, "Not authorized to access ICE candidates for this offer")
	if e != nil {
		return nil, e
	}
	cs, err := g.s.db.candidates(ctx, gen4, []string{id}, otherRole(role), after)
	if err != nil {
		return nil, g.s.internalError(err)
	}
	type view struct {
		Candidate json.RawMessage `json:"candidate"`
		CreatedAt int64           `json:"createdAt"`
		Role      string          `json:"role"`
	}
	out := make([]view, len(cs))
	for i, c := range cs {
		out[i] = view{c.Candidate, c.CreatedAt, c.Role}
	}
	return map[string]any{"candidates": out, "offerId": id}, nil
}

func (g *G4) getPushChannel(_ context.Context, caller string, _ fields) (any, *apiError) {
	return map[string]string{"channel": g.s.channel("g4:" + caller)}, nil
}
