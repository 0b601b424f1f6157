package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// envelope is every response body: {"code", "message", "data"}. For every non-200 answer the HTTP status
// equals code.
type envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

func writeJSON(w http.ResponseWriter, status int, message string, data any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(envelope{Code: status, Message: message, Data: data})
}

func writeOK(w http.ResponseWriter, data any) { writeJSON(w, http.StatusOK, "ok", data) }

// apiError is an answer other than 200: its status and a message naming what was wrong.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func fail(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// maxBody is the largest request body accepted.
const maxBody = 4 << 10

// decodeObject reads a JSON object of at most maxBody bytes into its raw fields. It rejects bodies that are not
// JSON, not an object, carry trailing data, or name a field outside allowed.
func decodeObject(r *http.Request, allowed ...string) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, badRequest("body: cannot read: %v", err)
	}
	if len(body) > maxBody {
		return nil, badRequest("body: larger than %d bytes", maxBody)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, badRequest("%s", bodyProblem(body))
	}
	for name := range fields {
		ok := false
		for _, a := range allowed {
			ok = ok || a == name
		}
		if !ok {
			return nil, badRequest("%s: unknown field", name)
		}
	}
	return fields, nil
}

// bodyProblem says why a body is not one JSON object: one object followed by more data, or no object at all.
// Only refused bodies pay for it.
func bodyProblem(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if dec.Decode(&fields) == nil && fields != nil {
		return "body: trailing data after the JSON object"
	}
	return "body: must be a JSON object"
}

// positiveInt reads a required JSON integer > 0 (no fraction, no exponent, no string).
func positiveInt(fields map[string]json.RawMessage, name string) (int64, error) {
	raw, ok := fields[name]
	if !ok {
		return 0, badRequest("%s: missing", name)
	}
	return parsePositive(name, string(raw))
}

func parsePositive(name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, badRequest("%s: must be a positive integer", name)
	}
	return n, nil
}

// queryPositive reads a required positive integer query parameter.
func queryPositive(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, badRequest("%s: missing", name)
	}
	return parsePositive(name, v)
}
