package native

import "fmt"

// Error is a command's failure, sent in a reply. Codes are stable (docs/protocol.md).
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// Command error codes.
var (
	ErrInternal         = &Error{100, "internal server error"}
	ErrUnauthorized     = &Error{101, "unauthorized"}
	ErrUnknownChannel   = &Error{102, "unknown channel namespace"}
	ErrPermission       = &Error{103, "permission denied"}
	ErrMethodNotFound   = &Error{104, "method not found"}
	ErrAlreadySubscribe = &Error{105, "already subscribed"}
	ErrLimitExceeded    = &Error{106, "limit exceeded"}
	ErrBadRequest       = &Error{107, "bad request"}
	ErrNotAvailable     = &Error{108, "not available"}
	ErrTokenExpired     = &Error{109, "token expired"}
	ErrTooManyRequests  = &Error{110, "too many requests"}
	ErrNotSubscribed    = &Error{111, "not subscribed"}
)

// errorf returns base with a more precise message.
func errorf(base *Error, format string, args ...any) *Error {
	return &Error{base.Code, base.Message + ": " + fmt.Sprintf(format, args...)}
}

// Disconnect codes: 3000–3499 ask the client to reconnect, 3500–3999 tell it not to. The
// WebSocket close frame carries the same code, except on shutdown, which closes with the
// standard 1001 "going away" after a disconnect push with 3001.
const (
	DisconnectShutdown         = 3001
	DisconnectInsufficient     = 3004 // a gap in the stream: resubscribe with recovery
	DisconnectExpired          = 3005 // the token expired: reconnect with a fresh one
	DisconnectSlow             = 3008
	DisconnectInvalidToken     = 3500
	DisconnectBadRequest       = 3501
	DisconnectStale            = 3502 // no connect command in time
	DisconnectForceNoReconnect = 3503 // closed by the server API
	DisconnectTooManyErrors    = 3509
)
