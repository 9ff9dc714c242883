// Package configtest helps tests prove that every documented setting does
// what it says: it lists the keys that the example configuration documents
// and writes a copy of the example with some of them set. The firmware's
// settings test and the main package's board-settings test share it, so
// both read the example the same way.
package configtest

import (
	"fmt"
	"regexp"
	"strings"
)

// ExampleFile is the example configuration, relative to the module root.
const ExampleFile = "firmware/config/capturebox.example.toml"

var keyLineRE = regexp.MustCompile(`^(?:# )?([a-z_]+) = `)

// DocumentedKeys returns "section.name" for every key the example
// documents (set or commented out), in the order it documents them.
func DocumentedKeys(example string) []string {
	var keys []string
	section := ""
	for _, line := range strings.Split(example, "\n") {
		if strings.HasPrefix(line, "[") && strings.HasSuffix(strings.TrimSpace(line), "]") {
			section = strings.Trim(strings.TrimSpace(line), "[]")
			continue
		}
		if m := keyLineRE.FindStringSubmatch(line); m != nil {
			keys = append(keys, section+"."+m[1])
		}
	}
	return keys
}

// WithValues returns the example with each key ("section.name") set to its
// TOML value: the key's one line, commented out or not, is replaced.
func WithValues(example string, values map[string]string) ([]byte, error) {
	for key, v := range values {
		name := key[strings.LastIndex(key, ".")+1:]
		re := regexp.MustCompile(`(?m)^(?:# )?` + regexp.QuoteMeta(name) + ` = .*$`)
		if n := len(re.FindAllStringIndex(example, -1)); n != 1 {
			return nil, fmt.Errorf("%s: want one line for %s in the example, found %d", key, name, n)
		}
		example = re.ReplaceAllLiteralString(example, name+" = "+v)
	}
	return []byte(example), nil
}
