package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/config/configtest"
)

// boardSettings proves the [hardware] keys that only the main package reads
// (to open the board), as firmware's TestEveryDocumentedSettingChangesBehaviour
// proves the rest: each entry sets its key to a value other than the default
// and the probe shows what the board is given differs.
var boardSettings = map[string]string{
	"hardware.led_pin":        `"GPIO5"`,
	"hardware.led_active":     `"low"`,
	"hardware.button_pin":     `"GPIO6"`,
	"hardware.long_press":     `"3s"`,
	"hardware.display_port":   `"/dev/ttyUSB0"`,
	"hardware.display_type":   `"plain"`,
	"hardware.display_size":   `"20x4"`,
	"hardware.display_baud":   `19200`,
	"hardware.console_port":   `"/dev/ttyS1"`,
	"hardware.console_baud":   `9600`,
	"hardware.capture_device": `"/dev/video2"`,
	"hardware.video_encoder":  `"openh264"`,
	"hardware.audio_device":   `"none"`, // no sound input instead of ALSA's first
}

// boardProbe is what the main package hands the board for cfg.
func boardProbe(t *testing.T, cfg *config.Config) string {
	t.Helper()
	bc, err := boardConfig(cfg.Hardware, nil)
	if err != nil {
		t.Fatalf("boardConfig: %v", err)
	}
	src, codec, err := boardAudio(cfg.Hardware)
	return fmt.Sprintf("%+v %+v sound %+v %+v %v", bc, videoConfig(cfg.Hardware), src, codec, err)
}

func TestBoardSettings(t *testing.T) {
	path := filepath.Join("..", "..", "config", "capturebox.example.toml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	example := string(raw)
	parse := func(t *testing.T, values map[string]string) *config.Config {
		t.Helper()
		text, err := configtest.WithValues(example, values)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse(text, path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	def := boardProbe(t, parse(t, nil))
	for _, key := range configtest.DocumentedKeys(example) {
		if !strings.HasPrefix(key, "hardware.") || key == "hardware.console_pin" {
			continue // the firmware's settings test proves these
		}
		t.Run(key, func(t *testing.T) {
			v, ok := boardSettings[key]
			if !ok {
				t.Fatalf("%s is documented in %s but has no entry in boardSettings: show that it changes what the board does, or do not document it", key, path)
			}
			if got := boardProbe(t, parse(t, map[string]string{key: v})); got == def {
				t.Fatalf("%s = %s: the board is given the same configuration (%s)", key, v, got)
			}
		})
	}
}
