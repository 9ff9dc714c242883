package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Day is 24 hours, the unit "d" of ParseDuration. The box's durations are
// spans of elapsed time, not calendar days.
const Day = 24 * time.Hour

// ParseDuration parses Go's duration syntax (time.ParseDuration) with one
// addition: an optional leading whole number of days, as in "14d", "1d12h".
// "0" is zero. Signs are allowed as in Go ("-1s").
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	if s == "" {
		return 0, errors.New("empty duration")
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	var d time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		days, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || i == 0 || s[0] < '0' || s[0] > '9' {
			return 0, fmt.Errorf("invalid duration %q: days must be a whole number, as in 14d or 1d12h", orig)
		}
		if days > int64(math.MaxInt64/int64(Day)) {
			return 0, fmt.Errorf("invalid duration %q: too long", orig)
		}
		d = time.Duration(days) * Day
		s = s[i+1:]
		if s == "" {
			if neg {
				d = -d
			}
			return d, nil
		}
		if s[0] == '-' || s[0] == '+' {
			return 0, fmt.Errorf("invalid duration %q", orig)
		}
	}
	rest, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use a number with a unit (ms, s, m, h, d), as in 30s, 2m, 1h30m or 14d", orig)
	}
	if d > 0 && rest > math.MaxInt64-d {
		return 0, fmt.Errorf("invalid duration %q: too long", orig)
	}
	d += rest
	if neg {
		d = -d
	}
	return d, nil
}

// FormatDuration writes d the way ParseDuration reads it, as briefly as
// possible: "2m", "1h30m", "14d", "1d12h", "500ms", "0s".
func FormatDuration(d time.Duration) string {
	if d < 0 {
		if d == math.MinInt64 {
			return d.String()
		}
		return "-" + FormatDuration(-d)
	}
	days, rem := d/Day, d%Day
	var b strings.Builder
	if days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10))
		b.WriteByte('d')
	}
	if rem != 0 || days == 0 {
		r := rem.String()
		if strings.HasSuffix(r, "m0s") {
			r = strings.TrimSuffix(r, "0s")
		}
		if strings.HasSuffix(r, "h0m") {
			r = strings.TrimSuffix(r, "0m")
		}
		b.WriteString(r)
	}
	return b.String()
}

// Size is a number of bytes, written in the file as "4MiB", "100KiB", "5MB"
// or a plain integer.
type Size int64

// Binary size units.
const (
	KiB Size = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"KiB": int64(KiB), "MiB": int64(MiB), "GiB": int64(GiB), "TiB": int64(TiB),
	"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

// ParseSize parses a size: a non-negative decimal number, optionally with a
// fraction, followed by an optional unit: B, KiB, MiB, GiB, TiB (powers of
// 1024) or kB/KB, MB, GB, TB (powers of 1000). The result must be a whole
// number of bytes. Examples: "4MiB", "1.5GiB", "100KiB", "65536".
func ParseSize(s string) (Size, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimPrefix(s[i:], " ")
	mult, ok := sizeUnits[unit]
	if num == "" || !ok || strings.Count(num, ".") > 1 || strings.HasPrefix(num, ".") || strings.HasSuffix(num, ".") {
		return 0, fmt.Errorf("invalid size %q: use a number with a unit (B, KiB, MiB, GiB, kB, MB, GB), as in 4MiB", s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, fmt.Errorf("invalid size %q: not a whole number of bytes", s)
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(n.Int64()), nil
}

// String writes the size with the largest binary unit that divides it
// exactly ("4MiB", "1536KiB"), or in bytes ("1000B"); zero is "0".
func (s Size) String() string {
	if s == 0 {
		return "0"
	}
	if s < 0 {
		return strconv.FormatInt(int64(s), 10) + "B"
	}
	for _, u := range []struct {
		n    Size
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if s%u.n == 0 {
			return strconv.FormatInt(int64(s/u.n), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// Bytes returns the size as an int64.
func (s Size) Bytes() int64 { return int64(s) }

// MarshalText writes the size as String does.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a size as ParseSize does.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
