// Command devrun is `make run`: it starts the Kaltura simulator with a
// seeded room and lectures a minute apart, writes a configuration for the
// box (mode 0600), runs the box on HAL fakes with its console on this
// terminal, and prints every Kaltura entry the box creates once it is READY.
//
//	devrun [-sim bin/kalturasim] [-box bin/capturebox] [-dir out/dev]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/template"
	"time"
)

// seeded is the JSON line kalturasim prints with -seed demo.
type seeded struct {
	ServiceURL      string  `json:"serviceUrl"`
	PartnerID       int64   `json:"partnerId"`
	AppTokenID      string  `json:"appTokenId"`
	AppToken        string  `json:"appToken"`
	HashType        string  `json:"hashType"`
	ResourceID      int64   `json:"resourceId"`
	TemplateEntryID string  `json:"templateEntryId"`
	EventIDs        []int64 `json:"eventIds"`
}

type entry struct {
	ID            string            `json:"id"`
	Status        int               `json:"status"`
	Template      bool              `json:"template"`
	Fields        map[string]string `json:"fields"`
	ContentSize   int64             `json:"contentSize"`
	ContentSHA256 string            `json:"contentSha256"`
}

var configTemplate = template.Must(template.New("cfg").Parse(`# Written by devrun (make run) for the box on HAL fakes.
[box]
name = "Room 101"
timezone = "{{.TZ}}"
data_dir = "{{.Data}}"
log_level = "info"

[kaltura]
service_url = "{{.S.ServiceURL}}"
allow_insecure_http = true
partner_id = {{.S.PartnerID}}
app_token_id = "{{.S.AppTokenID}}"
app_token = "{{.S.AppToken}}"
app_token_hash_type = "{{.S.HashType}}"
resource_id = {{.S.ResourceID}}
default_template_entry_id = "{{.S.TemplateEntryID}}"

[sync]
interval = "30s"
jitter = "3s"

[recording]
min_length = "5s"
`))

func main() {
	sim := flag.String("sim", "bin/kalturasim", "simulator binary")
	boxBin := flag.String("box", "bin/capturebox", "box binary")
	dir := flag.String("dir", "out/dev", "working directory (recreated)")
	flag.Parse()
	restore := foreground()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *sim, *boxBin, *dir)
	stop()
	restore()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "devrun:", err)
		os.Exit(1)
	}
	fmt.Println("devrun: the box and the Kaltura simulator stopped.")
}

func run(ctx context.Context, simBin, boxBin, dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	simLog, err := os.Create(filepath.Join(dir, "kalturasim.log"))
	if err != nil {
		return err
	}
	defer simLog.Close()
	simCmd := exec.CommandContext(ctx, simBin, "-listen", "127.0.0.1:0", "-seed", "demo",
		"-data", filepath.Join(dir, "sim"), "-processing-delay", "5s")
	simCmd.Stderr = simLog
	out, err := simCmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := simCmd.Start(); err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer func() {
		_ = simCmd.Process.Signal(os.Interrupt)
		_ = simCmd.Wait()
	}()
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("simulator did not start (see %s): %w", simLog.Name(), err)
	}
	var s seeded
	if err := json.Unmarshal(line, &s); err != nil {
		return fmt.Errorf("simulator seed line: %w", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	tz := "UTC"
	if name, err := os.Readlink("/etc/localtime"); err == nil {
		if i := len("/usr/share/zoneinfo/"); len(name) > i && name[:i] == "/usr/share/zoneinfo/" {
			tz = name[i:]
		}
	}
	cfgPath := filepath.Join(dir, "capturebox.toml")
	f, err := os.OpenFile(cfgPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = configTemplate.Execute(f, map[string]any{"S": s, "Data": filepath.Join(dir, "box"), "TZ": tz})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", cfgPath, err)
	}

	fmt.Printf(`capturebox development box
  Kaltura simulator  %s (partner %d, room resource %d, %d lectures: the first starts in a minute)
  configuration      %s
  box log            %s
Console commands: help, status, schedule, recordings, uploads, start, stop, press (button), hold (long press), log.
Ctrl-C stops the box and the simulator.

`, s.ServiceURL, s.PartnerID, s.ResourceID, len(s.EventIDs), cfgPath, filepath.Join(dir, "box.log"))

	boxLog, err := os.Create(filepath.Join(dir, "box.log"))
	if err != nil {
		return err
	}
	defer boxLog.Close()
	box := exec.CommandContext(ctx, boxBin, "run", "-dev", "-config", cfgPath)
	box.Stdin, box.Stdout, box.Stderr = os.Stdin, os.Stdout, boxLog
	box.Cancel = func() error { return box.Process.Signal(os.Interrupt) }
	box.WaitDelay = 10 * time.Second
	if err := box.Start(); err != nil {
		return fmt.Errorf("start box: %w", err)
	}
	go watchEntries(ctx, s.ServiceURL)
	err = box.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// watchEntries prints each entry the box created once Kaltura has it READY.
func watchEntries(ctx context.Context, base string) {
	seen := map[string]bool{}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/admin/entries", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var entries []entry
		err = json.NewDecoder(resp.Body).Decode(&entries)
		resp.Body.Close()
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.Template || seen[e.ID] || e.Status != 2 {
				continue
			}
			seen[e.ID] = true
			fmt.Printf("KALTURA entry %s READY: %q template=%s adminTags=%s owner=%s categories=%s %d bytes sha256=%.12s\n",
				e.ID, e.Fields["name"], e.Fields["templateEntryId"], e.Fields["adminTags"], e.Fields["userId"],
				e.Fields["categoriesIds"], e.ContentSize, e.ContentSHA256)
		}
	}
}
