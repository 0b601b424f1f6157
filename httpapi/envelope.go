package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// Every response body is the envelope {"code", "message", "data"}; for every non-200 answer the HTTP status
// equals code. writeJSON builds it in a pooled buffer, byte for byte what encoding/json's Encoder writes for the
// struct {Code int; Message string; Data any} (HTML characters escaped, a trailing newline), and writes it in one
// call. Safe for concurrent use.
func writeJSON(w http.ResponseWriter, status int, message string, data any) {
	e := envelopes.Get().(*envelopeBuffer)
	defer e.release()
	if err := e.build(status, message, data); err != nil {
		// data that cannot be encoded is a bug of this package; the buyer gets an honest 500, not half a body
		status = http.StatusInternalServerError
		_ = e.build(status, "internal error: answer cannot be encoded", nil)
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(e.buf.Bytes())
}

// jsonContentType is shared by every answer's header map; net/http only reads it.
var jsonContentType = []string{"application/json; charset=utf-8"}

// envelopes holds reusable envelope buffers; maxPooledEnvelope bounds what a large answer leaves in the pool.
var envelopes = sync.Pool{New: func() any {
	e := &envelopeBuffer{}
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

const maxPooledEnvelope = 64 << 10

type envelopeBuffer struct {
	buf bytes.Buffer
	enc *json.Encoder // writes into buf
}

func (e *envelopeBuffer) build(status int, message string, data any) error {
	e.buf.Reset()
	e.buf.WriteString(`{"code":`)
	e.buf.Write(strconv.AppendInt(e.buf.AvailableBuffer(), int64(status), 10))
	e.buf.WriteString(`,"message":`)
	if err := e.value(message); err != nil {
		return err
	}
	e.buf.WriteString(`,"data":`)
	if err := e.value(data); err != nil {
		return err
	}
	e.buf.WriteString("}\n")
	return nil
}

// value appends v as encoding/json encodes it, without the Encoder's newline.
func (e *envelopeBuffer) value(v any) error {
	if err := e.enc.Encode(v); err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	e.buf.Truncate(e.buf.Len() - 1)
	return nil
}

func (e *envelopeBuffer) release() {
	if e.buf.Cap() <= maxPooledEnvelope {
		envelopes.Put(e)
	}
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
// JSON, not an object, carry trailing data, or name a field outside allowed. The usual body, a flat object of
// integers such as a buy request's, is read by flatIntegers; anything else by encoding/json.
func decodeObject(r *http.Request, allowed ...string) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, badRequest("body: cannot read: %v", err)
	}
	if len(body) > maxBody {
		return nil, badRequest("body: larger than %d bytes", maxBody)
	}
	if fields, ok := flatIntegers(body, allowed); ok {
		return fields, nil
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

// flatIntegers reads the usual shape of a request body without reflection: one JSON object whose keys are among
// allowed, written without escapes, and whose values are JSON integers (no fraction, no exponent), with JSON
// whitespace between tokens and nothing after the object. It answers false for anything else, valid or not,
// which encoding/json then reads; when it answers true, the fields are what json.Unmarshal gives (a repeated key
// keeps its last value), their values aliasing body.
func flatIntegers(body []byte, allowed []string) (map[string]json.RawMessage, bool) {
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return nil, false
	}
	fields := make(map[string]json.RawMessage, len(allowed))
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return fields, skipSpace(body, i+1) == len(body)
	}
	for {
		if i == len(body) || body[i] != '"' {
			return nil, false
		}
		end := i + 1
		for end < len(body) && body[end] != '"' {
			if c := body[end]; c == '\\' || c < 0x20 || c >= 0x80 {
				return nil, false
			}
			end++
		}
		if end == len(body) {
			return nil, false
		}
		name := ""
		for _, a := range allowed {
			if string(body[i+1:end]) == a {
				name = a
			}
		}
		if name == "" {
			return nil, false
		}
		i = skipSpace(body, end+1)
		if i == len(body) || body[i] != ':' {
			return nil, false
		}
		i = skipSpace(body, i+1)
		start := i
		if i < len(body) && body[i] == '-' {
			i++
		}
		switch {
		case i < len(body) && body[i] == '0':
			i++
		case i < len(body) && body[i] >= '1' && body[i] <= '9':
			for i < len(body) && body[i] >= '0' && body[i] <= '9' {
				i++
			}
		default:
			return nil, false
		}
		fields[name] = body[start:i:i]
		i = skipSpace(body, i)
		if i == len(body) {
			return nil, false
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case '}':
			return fields, skipSpace(body, i+1) == len(body)
		default:
			return nil, false
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
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
