package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "2m", want: 2 * time.Minute},
		{in: "30s", want: 30 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "14d", want: 14 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "336h", want: 14 * 24 * time.Hour},
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "-1m", want: -time.Minute},
		{in: "-2d", want: -48 * time.Hour},
		{in: "", bad: true},
		{in: "2", bad: true},
		{in: "d", bad: true},
		{in: "1.5d", bad: true},
		{in: "2 minutes", bad: true},
		{in: "1h2d", bad: true},
		{in: "2d-3h", bad: true},
		{in: "+-2d", bad: true},
		{in: "999999999d", bad: true},
		{in: "2y", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{2 * time.Minute, "2m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + 5*time.Second, "1h0m5s"},
		{14 * Day, "14d"},
		{Day + 12*time.Hour, "1d12h"},
		{Day + time.Minute, "1d1m"},
		{500 * time.Millisecond, "500ms"},
		{-time.Minute, "-1m"},
	}
	for _, tt := range tests {
		got := FormatDuration(tt.in)
		if got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseDuration(got)
		if err != nil || back != tt.in {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", tt.in, back, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		bad  bool
	}{
		{in: "4MiB", want: 4 << 20},
		{in: "100KiB", want: 100 << 10},
		{in: "2GiB", want: 2 << 30},
		{in: "1TiB", want: 1 << 40},
		{in: "1.5GiB", want: 3 << 29},
		{in: "5MB", want: 5e6},
		{in: "5kB", want: 5e3},
		{in: "65536", want: 65536},
		{in: "10B", want: 10},
		{in: "0", want: 0},
		{in: "4 MiB", want: 4 << 20},
		{in: "", bad: true},
		{in: "MiB", bad: true},
		{in: "4XB", bad: true},
		{in: "4mib", bad: true},
		{in: "-4MiB", bad: true},
		{in: "1.5B", bad: true},
		{in: "1..5MiB", bad: true},
		{in: ".5MiB", bad: true},
		{in: "99999999999TiB", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseSize(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{4 * MiB, "4MiB"},
		{1536 * KiB, "1536KiB"},
		{2 * GiB, "2GiB"},
		{1000, "1000B"},
		{5e6, "5000000B"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseSize(tt.in.String())
		if err != nil || back != tt.in {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in.String(), back, err, tt.in)
		}
	}
}
