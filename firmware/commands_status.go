package firmware

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/capturebox/capturebox/hal"
)

var ledWords = map[hal.Pattern]string{
	hal.Off:       "off (idle)",
	hal.On:        "on (recording)",
	hal.SlowBlink: "slow blink (a recording starts within a minute)",
	hal.FastBlink: "fast blink (a fault needs a person)",
}

// subsystemWords says what a supervised subsystem is doing.
var finishedWords = map[string]string{
	"clock": "done: the clock is synchronised",
}

func (b *box) cmdStatus(ctx context.Context, w io.Writer, _ []string) error {
	snap, err := b.loop.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("the controller did not answer: %w", err)
	}
	fmt.Fprintf(w, "room      %s\n", b.cfg.Box.Name)
	trust := "trusted"
	if !snap.Inputs.Trusted {
		trust = "NOT trusted yet: nothing scheduled starts or stops until it is"
	}
	fmt.Fprintf(w, "time      %s (clock %s)\n", snap.Inputs.Now.In(b.cfg.Box.Location()).Format("Mon 2 Jan 2006 15:04:05 MST"), trust)
	led, ok := ledWords[snap.LED]
	if !ok {
		led = "unknown pattern"
	}
	fmt.Fprintf(w, "LED       %s\n", led)
	for _, l := range snap.Screen {
		fmt.Fprintf(w, "display   |%s|\n", l)
	}
	if len(snap.State.Running) == 0 {
		fmt.Fprintln(w, "recording nothing")
	}
	for _, r := range snap.State.Running {
		kind := "scheduled"
		if r.AdHoc() {
			kind = "ad-hoc"
		}
		fmt.Fprintf(w, "recording %q (%s, part %d) since %s, %s so far\n", r.Occ.Title, kind, r.Part,
			r.Started.In(b.cfg.Box.Location()).Format("15:04:05"), clock(snap.Inputs.Now.Sub(r.Started)))
	}
	if len(snap.Inputs.Faults) == 0 {
		fmt.Fprintln(w, "faults    none")
	}
	for _, f := range snap.Inputs.Faults {
		fmt.Fprintf(w, "FAULT     %s: %s\n", f.Source, f.Text)
	}
	for _, s := range b.sup.Statuses() {
		var state string
		switch {
		case s.Running:
			state = "running since " + b.when(s.Since)
		case s.LastError == "":
			state = finishedWords[s.Name]
			if state == "" {
				state = "finished its work"
			}
		default:
			state = "failed, restarting: " + s.LastError
		}
		if s.Restarts > 0 {
			state += fmt.Sprintf("; restarted %d times", s.Restarts)
		}
		fmt.Fprintf(w, "subsystem %-10s %s\n", s.Name, state)
	}
	return nil
}

func (b *box) cmdSchedule(_ context.Context, w io.Writer, _ []string) error {
	st := b.syncer.Status()
	loc := b.cfg.Box.Location()
	fmt.Fprintf(w, "last sync attempt   %s\n", b.when(st.LastAttempt))
	fmt.Fprintf(w, "last good sync      %s\n", b.when(st.LastSuccess))
	if st.LastError != "" {
		fmt.Fprintf(w, "last sync failed    %s (%d failures in a row)\n", st.LastError, st.ConsecutiveFailures)
	}
	if !st.NextAttempt.IsZero() {
		fmt.Fprintf(w, "next sync           %s\n", b.when(st.NextAttempt))
	}
	if !st.HaveSchedule {
		fmt.Fprintln(w, "no schedule yet: the box records nothing scheduled until a sync succeeds")
		return nil
	}
	source := "fetched"
	if st.FromCache {
		source = "loaded from the box's last good copy, fetched"
	}
	fmt.Fprintf(w, "schedule            %s %s over %s, %s to %s\n", source, b.when(st.FetchedAt), strings.ToUpper(st.Transport),
		st.From.In(loc).Format("Mon 2 Jan"), st.To.In(loc).Format("Mon 2 Jan"))
	fmt.Fprintf(w, "                    %s, %s to record, %s, %s\n", count(st.Events, "event"), count(st.Recordings, "event"), count(st.Conflicts, "conflict"), count(st.Problems, "problem"))
	if st.CacheError != "" {
		fmt.Fprintf(w, "cache problem       %s\n", st.CacheError)
	}
	entries := b.Schedule().Entries
	if len(entries) == 0 {
		fmt.Fprintln(w, "nothing scheduled in the window")
	}
	for _, e := range entries {
		o, mark := e.Occurrence, "record "
		if !e.Record {
			mark = "skip   "
		}
		fmt.Fprintf(w, "%s %s-%s  %s (event %s)\n", mark, o.Start.In(loc).Format("Mon 2 Jan 15:04"), o.End.In(loc).Format("15:04"), o.Title, o.Key)
	}
	return nil
}

func (b *box) cmdSyncNow(_ context.Context, w io.Writer, _ []string) error {
	b.syncNow()
	_, err := fmt.Fprintln(w, "sync requested: 'schedule' shows the result in a few seconds")
	return err
}

// syncNow asks for a schedule sync at once (the console's "sync now" and
// the status page's button); the syncer runs it in its own loop.
func (b *box) syncNow() { b.syncer.SyncNow() }

func (b *box) cmdTime(ctx context.Context, w io.Writer, _ []string) error {
	now := b.now()
	fmt.Fprintf(w, "clock      %s (UTC %s)\n", now.Format("Mon 2 Jan 2006 15:04:05 MST"), now.UTC().Format("15:04:05"))
	fmt.Fprintf(w, "time zone  %s\n", b.cfg.Box.Location())
	if b.trust.Trusted() {
		fmt.Fprintln(w, "trusted    yes: scheduled recordings start and stop on time")
	} else {
		fmt.Fprintln(w, "trusted    NO: nothing scheduled starts or stops until the clock is synchronised")
	}
	if b.dev.TimeSync == nil {
		fmt.Fprintln(w, "NTP        no time source on this box")
	} else if ok, err := b.dev.TimeSync.Synchronized(ctx); err != nil {
		fmt.Fprintf(w, "NTP        cannot tell: %v\n", err)
	} else {
		fmt.Fprintf(w, "NTP        synchronised: %s\n", yesNo(ok))
	}
	return nil
}

// cmdNetwork says what a technician checks first when a box does not sync:
// is there an address, a default route, does Kaltura's name resolve.
func (b *box) cmdNetwork(ctx context.Context, w io.Writer, _ []string) error {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("listing the interfaces: %w", err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			continue
		}
		state := "down"
		if i.Flags&net.FlagUp != 0 {
			state = "up"
		}
		if i.Flags&net.FlagRunning == 0 && state == "up" {
			state = "up, no link"
		}
		var addrs []string
		if as, err := i.Addrs(); err == nil {
			for _, a := range as {
				addrs = append(addrs, a.String())
			}
		}
		if len(addrs) == 0 {
			addrs = []string{"no address"}
		}
		fmt.Fprintf(w, "interface %-8s %s, %s\n", i.Name, state, strings.Join(addrs, ", "))
	}
	if gw, dev, err := defaultRoute(); err != nil {
		fmt.Fprintf(w, "default route  cannot tell: %v\n", err)
	} else if gw == "" {
		fmt.Fprintln(w, "default route  NONE: the box cannot reach Kaltura")
	} else {
		fmt.Fprintf(w, "default route  via %s on %s\n", gw, dev)
	}
	host := kalturaHost(b.cfg.Kaltura.ServiceURL)
	if b.cfg.Sync.FTPAddress != "" && b.cfg.Sync.Transport == "ftp" {
		host, _, _ = net.SplitHostPort(b.cfg.Sync.FTPAddress)
	}
	if host == "" {
		return nil
	}
	// Within the console's budget: the lookup gets at most 700 ms.
	lctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(lctx, host)
	switch {
	case err != nil && lctx.Err() != nil:
		fmt.Fprintf(w, "DNS            %s: no answer within 0.7 s\n", host)
	case err != nil:
		fmt.Fprintf(w, "DNS            %s does not resolve: %v\n", host, err)
	default:
		fmt.Fprintf(w, "DNS            %s resolves to %s\n", host, strings.Join(addrs, ", "))
	}
	return nil
}

// count says "1 event", "3 events".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// kalturaHost is the host name of the service URL.
func kalturaHost(u string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		rest = u
	}
	rest, _, _ = strings.Cut(rest, "/")
	if h, _, err := net.SplitHostPort(rest); err == nil {
		return h
	}
	return rest
}

// defaultRoute reads the IPv4 default route from /proc/net/route.
func defaultRoute() (gateway, device string, err error) {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "00000000" {
			continue
		}
		var g uint32
		if _, err := fmt.Sscanf(f[2], "%x", &g); err != nil {
			continue
		}
		ip := net.IPv4(byte(g), byte(g>>8), byte(g>>16), byte(g>>24))
		return ip.String(), f[0], nil
	}
	return "", "", nil
}
