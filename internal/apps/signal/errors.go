package signal

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/switchboard/switchboard/internal/httpx"
)

// apiError is an error a client is shown: rondevu's own message (clients match substrings
// of some, e.g. "not found", "not yet answered"), the HTTP status G1/G2 answer with, and the
// error code G4 answers with.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// wire returns an apiError with a formatted message.
func wire(status int, code, format string, a ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

// invalid is a 400 with G4's INVALID_PARAMS code.
func invalid(format string, a ...any) *apiError {
	return wire(http.StatusBadRequest, "INVALID_PARAMS", format, a...)
}

func fail(w http.ResponseWriter, e *apiError) { httpx.Error(w, e.status, e.msg) }

// quotaError words a breached offer quota; other errors pass as nil.
func (s *Service) quotaError(err error) *apiError {
	var le *limitError
	if !errors.As(err, &le) {
		return nil
	}
	if le.what == "peer" {
		return wire(http.StatusTooManyRequests, "TOO_MANY_OFFERS_PER_USER", "User offer limit exceeded. You have %d offers, limit is %d.", le.have, le.limit)
	}
	return wire(http.StatusServiceUnavailable, "STORAGE_FULL", "Server offer limit reached (%d). Try again later.", le.limit)
}

// candidateLimit words a breached per-offer candidate limit; other errors pass as nil.
func candidateLimit(err error) *apiError {
	var le *limitError
	if !errors.As(err, &le) {
		return nil
	}
	return wire(http.StatusBadRequest, "TOO_MANY_ICE_CANDIDATES", "ICE candidate limit exceeded for offer. Current: %d, limit: %d.", le.have, le.limit)
}
