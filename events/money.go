package events

import (
	"bytes"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
)

// Money is an amount in cents. It encodes as a JSON number with two decimals (6999 yuan is 6999.00) and
// decodes any JSON number with at most two decimals, so prices never pass through a float.
type Money int64

// ParseMoney reads "6999", "6999.5" or "6999.50" into cents. It rejects negatives, more than two decimals and
// anything that is not a plain decimal number.
func ParseMoney(s string) (Money, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && (frac == "" || len(frac) > 2)) {
		return 0, fmt.Errorf("invalid amount %q: want a number with at most two decimals", s)
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("invalid amount %q: want a non-negative decimal number", s)
		}
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n > 99999999_99 {
		return 0, fmt.Errorf("invalid amount %q: at most 99999999.99", s)
	}
	return Money(n), nil
}

// String formats the amount with two decimals, as MySQL DECIMAL(10,2) does.
func (m Money) String() string { return fmt.Sprintf("%d.%02d", int64(m)/100, int64(m)%100) }

// MarshalJSON implements json.Marshaler.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (m *Money) UnmarshalJSON(b []byte) error {
	v, err := ParseMoney(string(bytes.Trim(b, `"`)))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Scan implements sql.Scanner for DECIMAL columns.
func (m *Money) Scan(src any) error {
	switch v := src.(type) {
	case []byte:
		return m.UnmarshalJSON(v)
	case string:
		return m.UnmarshalJSON([]byte(v))
	case int64:
		*m = Money(v * 100)
		return nil
	default:
		return fmt.Errorf("scan money from %T", src)
	}
}

// Value implements driver.Valuer: the amount as a decimal string for DECIMAL columns.
func (m Money) Value() (driver.Value, error) { return m.String(), nil }
