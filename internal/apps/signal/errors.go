package signal

import (
	"fmt"
	"net/http"
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
