package streams

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/config"
)

// Name is the streams' name in the configuration and the module list.
const Name = "streams"

// Config configures the api.twizzle.net-compatible broadcast streams: a sender streams moves
// over a WebSocket to many viewers; users sign in with an OAuth2 provider (WCA by default).
type Config struct {
	config.App
	// ClientURL is the web app the login callback redirects to with ?claimToken=.
	ClientURL string        `json:"client_url"`
	Provider  OAuthProvider `json:"provider" env:""`
	// RequireState refuses a login callback without a state, so every sign-in must start at
	// /v0/auth/wca/start (closes login CSRF). Off by default: the original web app sends users
	// to the provider itself, without a state. A callback with a state is always checked.
	RequireState     bool `json:"require_state"`
	AnonymousStreams bool `json:"anonymous_streams"` // POST /v0/streams without a token (nobody can send)
	// DevSignin: while no OAuth client is configured (provider.client_id empty, so real
	// sign-in is off), a browser on this machine may sign in under any name through
	// POST /v0/auth/dev/claim, for the console's demo. It never opens with a client_id set.
	DevSignin         bool            `json:"dev_signin"`
	StreamTimeout     config.Duration `json:"stream_timeout"` // a stream without a sender for this long ends
	ClaimTTL          config.Duration `json:"claim_ttl"`
	TokenTTL          config.Duration `json:"token_ttl"`
	MaxStreamsPerUser int             `json:"max_streams_per_user"`
	MaxFrameBytes     int64           `json:"max_frame_bytes"`
	SenderRate        float64         `json:"sender_rate"` // messages per second per sender socket (burst 2×)
}

// OAuthProvider is a generic OAuth2 authorization-code provider. Preset "wca" fills in the
// World Cube Association's endpoints and profile fields; ClientID and a secret are always
// the operator's.
type OAuthProvider struct {
	Preset           string `json:"preset"`
	AuthorizeURL     string `json:"authorize_url"`
	TokenURL         string `json:"token_url"`
	UserInfoURL      string `json:"userinfo_url"`
	ClientID         string `json:"client_id"`
	ClientSecret     string `json:"client_secret"`      // prefer the environment or a file
	ClientSecretFile string `json:"client_secret_file"` // read at startup
	RedirectURI      string `json:"redirect_uri"`       // this server's /v0/auth/wca/oauth_callback
	Scope            string `json:"scope"`
	// Where the profile is in the user-info answer: an object under UserKey ("" = the top
	// level), with the account id, display name and public handle (WCA ID) fields.
	UserKey     string `json:"user_key"`
	IDField     string `json:"id_field"`
	NameField   string `json:"name_field"`
	HandleField string `json:"handle_field"`
}

// WCA is the World Cube Association preset.
var WCA = OAuthProvider{
	Preset:       "wca",
	AuthorizeURL: "https://www.worldcubeassociation.org/oauth/authorize",
	TokenURL:     "https://www.worldcubeassociation.org/oauth/token",
	UserInfoURL:  "https://www.worldcubeassociation.org/api/v0/me",
	Scope:        "public", UserKey: "me", IDField: "id", NameField: "name", HandleField: "wca_id",
}

// Resolved returns p with its preset's values under the ones set, and the secret read from
// ClientSecretFile when given.
func (p OAuthProvider) Resolved() (OAuthProvider, error) {
	out := p
	if p.Preset == "wca" {
		fill := func(dst *string, v string) {
			if *dst == "" {
				*dst = v
			}
		}
		fill(&out.AuthorizeURL, WCA.AuthorizeURL)
		fill(&out.TokenURL, WCA.TokenURL)
		fill(&out.UserInfoURL, WCA.UserInfoURL)
		fill(&out.Scope, WCA.Scope)
		fill(&out.UserKey, WCA.UserKey)
		fill(&out.IDField, WCA.IDField)
		fill(&out.NameField, WCA.NameField)
		fill(&out.HandleField, WCA.HandleField)
	}
	if p.ClientSecretFile != "" {
		b, err := os.ReadFile(p.ClientSecretFile)
		if err != nil {
			return out, fmt.Errorf("provider.client_secret_file: %w", err)
		}
		out.ClientSecret = strings.TrimSpace(string(b))
	}
	return out, nil
}

// Default is the streams' configuration out of the box.
func Default() *Config {
	return &Config{
		App: config.App{Enabled: true, Prefix: ""}, ClientURL: "http://localhost:1234/",
		Provider:      OAuthProvider{Preset: "wca"},
		StreamTimeout: config.Duration(10 * time.Minute), ClaimTTL: config.Duration(10 * time.Minute),
		TokenTTL: config.Duration(90 * 24 * time.Hour), MaxStreamsPerUser: 10, MaxFrameBytes: 16 << 10, SenderRate: 60,
		DevSignin: true,
	}
}

// Validate says what cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.StreamTimeout <= 0 || c.ClaimTTL <= 0 || c.TokenTTL <= 0 || c.MaxStreamsPerUser < 1 || c.MaxFrameBytes < 256 || c.SenderRate < 0 {
		errs = append(errs, errors.New("timeouts and TTLs must be positive, max_streams_per_user at least 1, max_frame_bytes at least 256, sender_rate not negative"))
	}
	if p := c.Provider; p.Preset != "" && p.Preset != "wca" {
		errs = append(errs, fmt.Errorf("provider.preset %q: only \"wca\" is built in", p.Preset))
	}
	return errors.Join(append(errs, c.ValidatePrefix())...)
}

// Settings is the streams' section of cfg.
func Settings(cfg config.Config) *Config { return config.Get[Config](cfg, Name) }
