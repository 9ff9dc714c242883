package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

const exampleFile = "capturebox.example.toml"

// commentedKeyRE matches a key line the example shows commented out.
var commentedKeyRE = regexp.MustCompile(`(?m)^# ([a-z_]+ = .*)$`)

func readExample(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestExampleParses: the example as shipped is a valid file.
func TestExampleParses(t *testing.T) {
	if _, err := Parse([]byte(readExample(t)), exampleFile); err != nil {
		t.Fatal(err)
	}
}

// TestExampleDocumentsEveryKey: with its commented key lines uncommented,
// the example sets every key of Config exactly once, and nothing else.
func TestExampleDocumentsEveryKey(t *testing.T) {
	uncommented := commentedKeyRE.ReplaceAllString(readExample(t), "$1")
	doc, problems := readDocument([]byte(uncommented))
	if problems != nil {
		t.Fatalf("uncommented example: %v", problems)
	}
	if _, err := Parse([]byte(uncommented), exampleFile); err != nil {
		t.Fatalf("uncommented example: %v", err)
	}
	for _, f := range schema.fields {
		if _, ok := doc.keys[f.key]; !ok {
			t.Errorf("key %s (field %v) is missing from %s", f.key, f.index, exampleFile)
		}
	}
	for key := range doc.keys {
		if schema.byKey[key] == nil {
			t.Errorf("%s documents %s, which Config does not have", exampleFile, key)
		}
	}
}

// TestExampleDefaultsMatchCode: every key shown commented out shows the
// default of the code, and exactly the required keys are set in the file.
func TestExampleDefaultsMatchCode(t *testing.T) {
	example := readExample(t)
	active, problems := readDocument([]byte(example))
	if problems != nil {
		t.Fatal(problems)
	}
	for _, f := range schema.fields {
		_, set := active.keys[f.key]
		if set != required[f.key] {
			t.Errorf("%s: set in the example = %v, but required = %v (optional keys are shown commented out with their default)", f.key, set, required[f.key])
		}
	}

	uncommented := commentedKeyRE.ReplaceAllString(example, "$1")
	got, err := Parse([]byte(uncommented), exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	for _, f := range schema.fields {
		if required[f.key] {
			continue
		}
		if g, w := f.literal(got, true), f.literal(def, true); g != w {
			t.Errorf("%s: example shows %s, code default is %s", f.key, g, w)
		}
	}

	// Each key's comment block names the default it shows ("Default X").
	lines := strings.Split(example, "\n")
	for i, l := range lines {
		m := commentedKeyRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		name, lit, _ := strings.Cut(m[1], " = ")
		block := ""
		for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "#"); j-- {
			block = lines[j] + "\n" + block
		}
		block = strings.Join(strings.Fields(block), " ")
		if !strings.Contains(block, "Default "+lit) && !(lit == `""` && strings.Contains(block, `Default "":`)) {
			t.Errorf("%s: its comment does not say %q", name, "Default "+lit)
		}
	}
}

// TestDefaultIsValidOnceRequiredSet: Default plus the required keys passes
// validation, so no default contradicts a rule.
func TestDefaultIsValidOnceRequiredSet(t *testing.T) {
	c := Default()
	c.Box.Name = "Room 101"
	c.Kaltura.PartnerID = 1
	c.Kaltura.AppTokenID = "0_ab12cd34"
	c.Kaltura.AppToken = testToken
	c.Kaltura.ResourceID = 2
	if p := validate(c, nil, nil); p != nil {
		t.Errorf("defaults invalid: %v", p)
	}
	if p := validate(Default(), nil, nil); len(p) != len(required) {
		t.Errorf("Default() problems %v, want exactly the %d required keys", p, len(required))
	}
}

func ExampleParse() {
	file := `
[box]
name = "Room 101"
timezone = "Europe/London"

[kaltura]
partner_id = 1234567
app_token_id = "0_ab12cd34"
app_token = "9f86d081884c7d659a2feaa0c55ad015"
resource_id = 58

[sync]
interval = "5m"
window = "7d"
`
	c, err := Parse([]byte(file), "capturebox.toml")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Box.Name, c.Box.Location(), c.Sync.Interval, c.Sync.Window, c.Upload.ChunkSize)
	fmt.Println(c.Kaltura.AppToken)
	// Output:
	// Room 101 Europe/London 5m0s 168h0m0s 4MiB
	// ********
}

func ExampleParse_problems() {
	file := `[box]
name = "Room 101"
colour = "blue"

[kaltura]
partner_id = 1234567
app_token_id = "0_ab12cd34"
app_token = "9f86d081884c7d659a2feaa0c55ad015"
resource_id = 58

[sync]
interval = "10s"
transport = "htps"
`
	_, err := Parse([]byte(file), "capturebox.toml")
	fmt.Println(err)
	// Output:
	// capturebox.toml:3: key box.colour: unknown key
	// capturebox.toml:12: key sync.interval: 10s is out of range: must be from 30s to 1d
	// capturebox.toml:13: key sync.transport: "htps" is not one of "https", "ftp"
}
