package streams

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/switchboard/switchboard/internal/httpx"
)

// Sign-in (spec A5). /v0/auth/wca/start sets a random state in a cookie of this browser and
// sends it to the provider; a callback that carries a state is accepted only with the state
// that browser holds (login CSRF closed for every flow that started there). The original web
// app builds the provider URL itself and sends no state: by default such a callback is
// accepted, as the original did; require_state refuses it.

const stateCookie = "twizzle_oauth_state"

func (a *App) startLogin(w http.ResponseWriter, r *http.Request) {
	if a.oauth == nil {
		httpx.Error(w, http.StatusServiceUnavailable, "sign-in is not configured (apps.streams.provider.client_id)")
		return
	}
	state := randomID("", 16)
	http.SetCookie(w, &http.Cookie{
		Name: stateCookie, Value: state, Path: "/", MaxAge: int(a.cfg.ClaimTTL.D().Seconds()),
		HttpOnly: true, Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https", SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, a.oauth.AuthCodeURL(state), http.StatusFound)
}

// errProvider is the answer to any failure to learn who signed in (the original's 403 text).
const errProvider = "Could not get WCA info. Please start over."

func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	code := q.Get("code")
	if code == "" {
		httpx.Error(w, http.StatusBadRequest, "code was not provided")
		return
	}
	if a.oauth == nil {
		httpx.Error(w, http.StatusServiceUnavailable, "sign-in is not configured (apps.streams.provider.client_id)")
		return
	}
	if !a.checkState(w, r) {
		return
	}
	user, err := a.signIn(r.Context(), code)
	if err != nil {
		a.log.Info("sign-in failed", "err", err) // never the code or any token
		httpx.Error(w, http.StatusForbidden, errProvider)
		return
	}
	claim := randomID("claim_token_", 16)
	if err := a.db.addClaim(r.Context(), claim, user, a.ms()+a.cfg.ClaimTTL.D().Milliseconds()); err != nil {
		a.internal(w, r, err)
		return
	}
	target, err := url.Parse(a.cfg.ClientURL)
	if err != nil {
		a.internal(w, r, fmt.Errorf("client_url: %w", err))
		return
	}
	tq := target.Query()
	tq.Set("claimToken", claim)
	target.RawQuery = tq.Encode()
	a.log.Info("signed in", "user", user)
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// signIn exchanges the code, reads the profile and returns the user, creating it at first.
func (a *App) signIn(ctx context.Context, code string) (string, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, a.client)
	tok, err := a.oauth.Exchange(ctx, code)
	if err != nil {
		return "", fmt.Errorf("token exchange: %w", err)
	}
	resp, err := a.oauth.Client(ctx, tok).Get(a.provider.UserInfoURL)
	if err != nil {
		return "", fmt.Errorf("user info: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("user info: status %d: %v", resp.StatusCode, err)
	}
	account, handle, name, profile, err := a.profile(body)
	if err != nil {
		return "", err
	}
	display := name + " (unverified)"
	if handle != nil {
		display = name + " (" + *handle + ")"
	}
	return a.db.upsertUser(ctx, a.provider.Preset+"|"+a.provider.UserInfoURL, account, handle, display, profile, a.ms())
}

// profile reads the account id, public handle (WCA ID) and name from a user-info answer.
func (a *App) profile(body []byte) (account string, handle *string, name, raw string, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return "", nil, "", "", fmt.Errorf("user info is not a JSON object")
	}
	obj := top
	if k := a.provider.UserKey; k != "" {
		if err := json.Unmarshal(top[k], &obj); err != nil || obj == nil {
			return "", nil, "", "", fmt.Errorf("user info has no %q object", k)
		}
	}
	var id any
	_ = json.Unmarshal(obj[a.provider.IDField], &id)
	switch v := id.(type) {
	case float64:
		account = strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		account = v
	}
	_ = json.Unmarshal(obj[a.provider.NameField], &name)
	if account == "" || name == "" {
		return "", nil, "", "", fmt.Errorf("user info lacks %s or %s", a.provider.IDField, a.provider.NameField)
	}
	var h *string
	_ = json.Unmarshal(obj[a.provider.HandleField], &h)
	if h != nil && *h == "" {
		h = nil
	}
	p, _ := json.Marshal(obj)
	return account, h, name, string(p), nil
}

// checkState applies the state rule to a callback; false means it has answered 403.
func (a *App) checkState(w http.ResponseWriter, r *http.Request) bool {
	state := r.URL.Query().Get("state")
	cookie, err := r.Cookie(stateCookie)
	held := err == nil && cookie.Value != ""
	if held {
		// Single use, whatever the outcome; a leftover from an unfinished /start must not
		// outlive this callback.
		http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/", MaxAge: -1})
	}
	switch {
	case state != "":
		if !held || subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(state)) != 1 {
			httpx.Error(w, http.StatusForbidden, "the sign-in state does not match; start again at /v0/auth/wca/start")
			return false
		}
	case a.cfg.RequireState:
		httpx.Error(w, http.StatusForbidden, "sign-in must start at /v0/auth/wca/start")
		return false
	}
	return true
}

func (a *App) claim(w http.ResponseWriter, r *http.Request) {
	claim := r.URL.Query().Get("claimToken")
	// The original answered both refusals with an empty body, and the web app relies on it:
	// it stores whatever JSON a claim answers as its session, so a JSON error body would
	// replace the session of a user who re-opens a used claim link (spec A4).
	if claim == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	user, err := a.db.useClaim(r.Context(), claim, a.ms())
	if errors.Is(err, errNotFound) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	u, err := a.db.user(r.Context(), user)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	token := randomID("twizzle_access_token_", 16)
	now := a.ms()
	if err := a.db.addToken(r.Context(), token, user, now, now+a.cfg.TokenTTL.D().Milliseconds()); err != nil {
		a.internal(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, struct {
		Token    string   `json:"twizzleAccessToken"`
		UserInfo UserInfo `json:"userInfo"`
	}{token, u})
}

// devSignin reports whether the stand-in sign-in is open: configured, and no OAuth client.
func (a *App) devSignin() bool { return a.cfg.DevSignin && a.provider.ClientID == "" }

// devClaim is the stand-in sign-in (apps.streams.dev_signin) for the console's demo: a browser
// on this machine names itself and gets a claim token, as the provider's callback would give,
// to exchange at POST /v0/claim like any other. The user is "<name> (stand-in)", of provider
// "dev", so no stand-in shares an account with a real sign-in.
func (a *App) devClaim(w http.ResponseWriter, r *http.Request) {
	if !a.devSignin() {
		httpx.Error(w, http.StatusNotFound, "the stand-in sign-in is off: an OAuth client is configured, or apps.streams.dev_signin is false")
		return
	}
	if !httpx.FromThisMachine(r) {
		httpx.Error(w, http.StatusForbidden, "the stand-in sign-in is only for browsers on this machine")
		return
	}
	var p struct {
		Name string `json:"name"`
	}
	if !httpx.DecodeOrFail(w, r, 1024, &p) {
		return
	}
	name := strings.TrimSpace(p.Name)
	if n := utf8.RuneCountInString(name); n < 1 || n > 40 || strings.ContainsFunc(name, unicode.IsControl) {
		httpx.Error(w, http.StatusBadRequest, "name: 1 to 40 characters, no control characters")
		return
	}
	user, err := a.db.upsertUser(r.Context(), "dev", name, nil, name+" (stand-in)", "{}", a.ms())
	if err != nil {
		a.internal(w, r, err)
		return
	}
	claim := randomID("claim_token_", 16)
	if err := a.db.addClaim(r.Context(), claim, user, a.ms()+a.cfg.ClaimTTL.D().Milliseconds()); err != nil {
		a.internal(w, r, err)
		return
	}
	a.log.Info("stand-in sign-in", "name", name, "ip", httpx.ClientIP(r))
	httpx.JSON(w, http.StatusOK, map[string]string{"claimToken": claim})
}
