package native

import (
	"slices"
	"strings"

	"github.com/switchboard/switchboard/internal/config"
)

// rules decides what a channel allows, from the namespace its name starts with.
type rules struct {
	namespaces map[string]*config.Namespace
	maxLen     int
}

func newRules(nss []config.Namespace, maxLen int) *rules {
	r := &rules{namespaces: map[string]*config.Namespace{}, maxLen: maxLen}
	for i := range nss {
		r.namespaces[nss[i].Name] = &nss[i]
	}
	return r
}

// validChannelByte lists what a channel name may hold: letters, digits and _ - : . @ # = / ,
func validChannelByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_-:.@#=/,", c) >= 0
}

// namespace returns the rules for ch, or an error saying why ch is not a usable name.
func (r *rules) namespace(ch string) (*config.Namespace, *Error) {
	if ch == "" {
		return nil, errorf(ErrBadRequest, "channel is empty")
	}
	if len(ch) > r.maxLen {
		return nil, errorf(ErrBadRequest, "channel name longer than %d bytes", r.maxLen)
	}
	for i := 0; i < len(ch); i++ {
		if !validChannelByte(ch[i]) {
			return nil, errorf(ErrBadRequest, "channel name may hold only letters, digits and _-:.@#=/,")
		}
	}
	name, _, found := strings.Cut(ch, ":")
	if !found {
		name = ""
	}
	ns := r.namespaces[name]
	if ns == nil {
		return nil, errorf(ErrUnknownChannel, "%q", name)
	}
	return ns, nil
}

// identity is what the rules look at about a client.
type identity struct {
	user     string
	channels []string // from the token
}

func (id identity) maySubscribe(ns *config.Namespace, ch string) bool {
	switch ns.Subscribe {
	case "all":
		return true
	case "users":
		return id.user != ""
	case "token":
		return slices.Contains(id.channels, ch)
	}
	return false
}

func (id identity) mayPublish(ns *config.Namespace, subscribed bool) bool {
	switch ns.Publish {
	case "all":
		return true
	case "users":
		return id.user != ""
	case "subscribers":
		return subscribed
	}
	return false
}
