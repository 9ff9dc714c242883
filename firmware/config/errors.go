package config

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration file. Its message never
// contains the value of a secret.
type Problem struct {
	// Key is "section.key" (or "section" for a whole section); "" for a
	// problem that is not about one key, such as broken TOML syntax.
	Key string
	// Line is the 1-based line of the key in the file; 0 when there is no
	// such line (a required key that is missing).
	Line int
	// Msg says what is wrong and, where it helps, what would be right.
	Msg string
}

// String formats the problem as "LINE: key section.key: reason", leaving
// out the parts that are unknown.
func (p Problem) String() string { return p.In("") }

// In formats the problem as "FILE:LINE: key section.key: reason", the form
// "capturebox config check FILE" prints, leaving out the parts that are
// unknown.
func (p Problem) In(file string) string {
	var b strings.Builder
	b.WriteString(file)
	if p.Line > 0 {
		if file != "" {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString("key ")
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ValidationError is every problem found in one configuration file. Load and
// Parse return it (as error) whenever a file is refused.
type ValidationError struct {
	File     string
	Problems []Problem
}

// Error lists the problems, one a line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.In(e.File)
	}
	if len(lines) == 0 {
		return e.File + ": invalid configuration"
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by line, keeping those without a line last,
// then by key.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if (a.Line == 0) != (b.Line == 0) {
			return a.Line != 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Key < b.Key
	})
}

var errNotIANA = errors.New("not an IANA time zone name")
