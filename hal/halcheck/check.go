package halcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"strings"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// CheckTimeout bounds every wait of a check: a device that has not
// answered by then fails. Under testing/synctest the wait takes no real
// time.
var CheckTimeout = 5 * time.Second

// KeyFrameWithin is how many video samples after RequestKeyFrame a key
// frame must arrive, for CheckCaptureSource.
const KeyFrameWithin = 5

// patternReader is the optional read-back a fake LED (or a driver with a
// shadow register) offers; CheckLED uses it when present.
type patternReader interface{ Pattern() hal.Pattern }

// CheckLED checks that led keeps the hal.LED contract: every defined
// pattern is accepted, repeating one is fine, unknown patterns fail with
// hal.ErrInvalidPattern and change nothing, Close may be repeated and Show
// fails after it. If led also has a Pattern() hal.Pattern method, the
// pattern it reports is checked after every step. CheckLED closes led.
func CheckLED(led hal.LED) error {
	rd, _ := led.(patternReader)
	expect := func(step string, want hal.Pattern) error {
		if rd == nil {
			return nil
		}
		if got := rd.Pattern(); got != want {
			return fmt.Errorf("led: after %s the LED shows %v, want %v", step, got, want)
		}
		return nil
	}
	for _, p := range []hal.Pattern{hal.On, hal.SlowBlink, hal.FastBlink, hal.FastBlink, hal.Off, hal.On} {
		if err := led.Show(p); err != nil {
			return fmt.Errorf("led: Show(%v): %w", p, err)
		}
		if err := expect(fmt.Sprintf("Show(%v)", p), p); err != nil {
			return err
		}
	}
	for _, p := range []hal.Pattern{hal.Pattern(-1), hal.FastBlink + 1, hal.Pattern(99)} {
		err := led.Show(p)
		if !errors.Is(err, hal.ErrInvalidPattern) {
			return fmt.Errorf("led: Show(%v) returned %v, want hal.ErrInvalidPattern", p, err)
		}
		if err := expect(fmt.Sprintf("Show(%v)", p), hal.On); err != nil {
			return err
		}
	}
	if err := led.Close(); err != nil {
		return fmt.Errorf("led: Close: %w", err)
	}
	if err := expect("Close", hal.Off); err != nil {
		return err
	}
	if err := led.Close(); err != nil {
		return fmt.Errorf("led: second Close: %w", err)
	}
	if err := led.Show(hal.On); err == nil {
		return errors.New("led: Show after Close succeeded")
	}
	return expect("Show after Close", hal.Off)
}

// CheckButton checks that b keeps the hal.Button contract, driving it with
// press, which must hold the button down for hold and then release it and
// return (a test jig's relay on the box; FakeButton.Hold in tests). It uses
// the hal.DefaultLongPress threshold and the time.Now clock (inside a
// testing/synctest bubble the sleeps take no real time).
//
// It checks that Events returns one channel; a short press gives one
// Press; a long hold gives one LongPress, sent at the threshold before the
// release, and no Press; eight gestures wait in the channel for a slow
// reader; and Close closes the channel. CheckButton closes b.
func CheckButton(b hal.Button, press func(hold time.Duration)) error {
	ch := b.Events()
	if ch == nil {
		return errors.New("button: Events returned nil")
	}
	if b.Events() != ch {
		return errors.New("button: Events returned a different channel on the second call")
	}
	threshold := hal.DefaultLongPress
	next := func(what string) (hal.ButtonEvent, error) {
		t := time.NewTimer(CheckTimeout)
		defer t.Stop()
		select {
		case ev, ok := <-ch:
			if !ok {
				return ev, fmt.Errorf("button: channel closed while waiting for %s", what)
			}
			return ev, nil
		case <-t.C:
			return hal.ButtonEvent{}, fmt.Errorf("button: no event within %v while waiting for %s", CheckTimeout, what)
		}
	}
	quiet := func(what string) error {
		select {
		case ev, ok := <-ch:
			if !ok {
				return fmt.Errorf("button: channel closed %s", what)
			}
			return fmt.Errorf("button: unexpected %v %s", ev.Kind, what)
		default:
			return nil
		}
	}

	// A short press.
	start := time.Now()
	press(threshold / 10)
	end := time.Now()
	ev, err := next("a short press")
	if err != nil {
		return err
	}
	if ev.Kind != hal.Press {
		return fmt.Errorf("button: a %v hold gave %v, want press", threshold/10, ev.Kind)
	}
	if ev.At.Before(start) || ev.At.After(end.Add(CheckTimeout)) {
		return fmt.Errorf("button: press stamped %v, outside the press (%v to %v)", ev.At, start, end)
	}
	if err := quiet("after one short press"); err != nil {
		return err
	}

	// A long hold: LongPress at the threshold, before the release.
	hold := threshold + threshold/2
	start = time.Now()
	press(hold)
	ev, err = next("a long press")
	if err != nil {
		return err
	}
	if ev.Kind != hal.LongPress {
		return fmt.Errorf("button: a %v hold gave %v first, want long-press", hold, ev.Kind)
	}
	if at := ev.At.Sub(start); at < threshold || at >= hold {
		return fmt.Errorf("button: long-press recognised %v after the press began, want between %v and the release at %v", at, threshold, hold)
	}
	if err := quiet("after a long press"); err != nil {
		return err
	}

	// A slow reader keeps eight gestures.
	for range 8 {
		press(threshold / 10)
	}
	for i := range 8 {
		ev, err := next(fmt.Sprintf("buffered press %d of 8", i+1))
		if err != nil {
			return err
		}
		if ev.Kind != hal.Press {
			return fmt.Errorf("button: buffered gesture %d is %v, want press", i+1, ev.Kind)
		}
	}

	if err := b.Close(); err != nil {
		return fmt.Errorf("button: Close: %w", err)
	}
	t := time.NewTimer(CheckTimeout)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return nil
			}
			return fmt.Errorf("button: %v after Close", ev.Kind)
		case <-t.C:
			return errors.New("button: channel not closed by Close")
		}
	}
}

// linesReader is the optional read-back of a display.
type linesReader interface{ Lines() []string }

// CheckDisplay checks that d keeps the hal.Display contract: a positive
// size, Show accepting no lines, short, long, too many and non-ASCII lines,
// and failing after Close. If d also has a Lines() []string method, what
// it shows is compared with RenderDisplay. CheckDisplay closes d.
func CheckDisplay(d hal.Display) error {
	cols, rows := d.Size()
	if cols <= 0 || rows <= 0 {
		return fmt.Errorf("display: size %dx%d", cols, rows)
	}
	long := string(bytes.Repeat([]byte("0123456789"), cols/10+2))
	cases := [][]string{
		nil,
		{"hello"},
		{long, "x"},
		{"", "row two"},
		{"caf\u00e9 \u2192 h\u00f6r", "tab\there\n"},
		{"\xff\xfe bad utf8"},
	}
	extra := make([]string, rows+2)
	for i := range extra {
		extra[i] = fmt.Sprintf("line %d", i)
	}
	cases = append(cases, extra)
	rd, _ := d.(linesReader)
	for _, lines := range cases {
		if err := d.Show(lines...); err != nil {
			return fmt.Errorf("display: Show(%q): %w", lines, err)
		}
		if rd == nil {
			continue
		}
		want := RenderDisplay(cols, rows, lines...)
		got := rd.Lines()
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			return fmt.Errorf("display: Show(%q) shows %q, want %q", lines, got, want)
		}
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("display: Close: %w", err)
	}
	if err := d.Show("after close"); err == nil {
		return errors.New("display: Show after Close succeeded")
	}
	return nil
}

// CheckConsole checks that port keeps the hal.ConsolePort contract, with
// peer the other end of the line (a loopback cable on the box,
// FakeConsole.Peer in tests): bytes cross in both directions unchanged, a
// Read waiting for input returns when port is closed, and Write fails
// after Close. CheckConsole closes port.
func CheckConsole(port hal.ConsolePort, peer io.ReadWriter) error {
	closed := false
	defer func() {
		if !closed {
			port.Close() // frees the readers of a failed check
		}
	}()
	readFull := func(r io.Reader, n int) ([]byte, error) {
		type result struct {
			b   []byte
			err error
		}
		res := make(chan result, 1)
		go func() {
			b := make([]byte, n)
			_, err := io.ReadFull(r, b)
			res <- result{b, err}
		}()
		t := time.NewTimer(CheckTimeout)
		defer t.Stop()
		select {
		case r := <-res:
			return r.b, r.err
		case <-t.C:
			return nil, fmt.Errorf("no data within %v", CheckTimeout)
		}
	}

	in := []byte("status\r\nconfig show\r\n\x03\x7f")
	if _, err := peer.Write(in); err != nil {
		return fmt.Errorf("console: peer write: %w", err)
	}
	got, err := readFull(port, len(in))
	if err != nil {
		return fmt.Errorf("console: reading what the peer typed: %w", err)
	}
	if !bytes.Equal(got, in) {
		return fmt.Errorf("console: read %q, peer typed %q", got, in)
	}

	out := []byte("capturebox> \x1b[0mok\r\n")
	if n, err := port.Write(out); err != nil || n != len(out) {
		return fmt.Errorf("console: Write = %d, %v; want %d, nil", n, err, len(out))
	}
	got, err = readFull(peer, len(out))
	if err != nil {
		return fmt.Errorf("console: peer reading what was written: %w", err)
	}
	if !bytes.Equal(got, out) {
		return fmt.Errorf("console: peer read %q, port wrote %q", got, out)
	}

	// A pending Read returns on Close.
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := port.Read(make([]byte, 16))
		res <- result{n, err}
	}()
	closed = true
	if err := port.Close(); err != nil {
		return fmt.Errorf("console: Close: %w", err)
	}
	t := time.NewTimer(CheckTimeout)
	defer t.Stop()
	select {
	case r := <-res:
		if r.err == nil {
			return fmt.Errorf("console: Read pending at Close returned %d bytes and no error", r.n)
		}
	case <-t.C:
		return fmt.Errorf("console: Read pending at Close still blocked after %v", CheckTimeout)
	}
	if _, err := port.Write([]byte("x")); err == nil {
		return errors.New("console: Write after Close succeeded")
	}
	return nil
}

// sampleChecker checks the samples of one stream as they come.
type sampleChecker struct {
	last   map[hal.MediaKind]time.Time
	videos int
}

func (c *sampleChecker) check(s hal.Sample) error {
	if c.last == nil {
		c.last = make(map[hal.MediaKind]time.Time)
	}
	switch s.Kind {
	case hal.Video:
		if s.Codec != "h264" {
			return fmt.Errorf("video sample with codec %q, want h264", s.Codec)
		}
	case hal.Audio:
		if s.Codec != "aac" && s.Codec != "opus" {
			return fmt.Errorf("audio sample with codec %q, want aac or opus", s.Codec)
		}
	default:
		return fmt.Errorf("sample of unknown kind %v", s.Kind)
	}
	if len(s.Data) == 0 {
		return fmt.Errorf("%v sample at %v has no data", s.Kind, s.At)
	}
	if s.At.IsZero() {
		return fmt.Errorf("%v sample without a time", s.Kind)
	}
	if s.Duration <= 0 {
		return fmt.Errorf("%v sample at %v has duration %v", s.Kind, s.At, s.Duration)
	}
	if prev, ok := c.last[s.Kind]; ok && !s.At.After(prev) {
		return fmt.Errorf("%v sample at %v does not come after the previous one at %v", s.Kind, s.At, prev)
	}
	c.last[s.Kind] = s.At
	if s.Kind != hal.Video {
		return nil
	}
	c.videos++
	if !bytes.HasPrefix(s.Data, []byte{0, 0, 1}) && !bytes.HasPrefix(s.Data, []byte{0, 0, 0, 1}) {
		return fmt.Errorf("video sample %d is not Annex B (starts % x)", c.videos, s.Data[:min(4, len(s.Data))])
	}
	has := map[int]bool{}
	for _, t := range nalTypes(s.Data) {
		has[t] = true
	}
	if c.videos == 1 && !s.Key {
		return errors.New("the first video sample is not a key frame")
	}
	if s.Key != has[NALIDR] {
		return fmt.Errorf("video sample %d: Key is %v but IDR slice present is %v", c.videos, s.Key, has[NALIDR])
	}
	if s.Key && (!has[NALSPS] || !has[NALPPS]) {
		return fmt.Errorf("key video sample %d lacks its parameter sets (SPS %v, PPS %v)", c.videos, has[NALSPS], has[NALPPS])
	}
	if !has[NALIDR] && !has[NALNonIDR] {
		return fmt.Errorf("video sample %d has no picture slice", c.videos)
	}
	return nil
}

// CheckCaptureSource checks that src keeps the hal.CaptureSource and
// hal.Stream contracts; src must have a signal. It checks that Open gives
// a stream with a sensible Format and a second Open fails while it is
// open; samples have a known kind and codec, data, a duration and times
// that increase per kind; video is Annex B H.264 whose first sample is a
// key frame, with Key set exactly on IDR access units, which carry SPS and
// PPS; RequestKeyFrame yields a key frame within KeyFrameWithin video
// samples; Next returns ctx's error for an ended ctx and io.EOF after
// Close; a stream that is a hal.Stiller gives a still of its Format size
// while samples are read, and io.EOF after Close; and after Close the
// source opens again, starting on a key frame. The stream is closed at
// the end.
func CheckCaptureSource(src hal.CaptureSource) error {
	ctx := context.Background()
	s, err := src.Open(ctx)
	if err != nil {
		return fmt.Errorf("capture: Open: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	f := s.Format()
	if f.Width <= 0 || f.Height <= 0 || f.FPS <= 0 || f.FPS > 240 {
		return fmt.Errorf("capture: Format %+v", f)
	}
	if s2, err := src.Open(ctx); err == nil {
		s2.Close()
		return errors.New("capture: a second Open succeeded while a stream was open")
	}

	var sc sampleChecker
	next := func(s hal.Stream, sc *sampleChecker) (hal.Sample, error) {
		ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		defer cancel()
		smp, err := s.Next(ctx)
		if err != nil {
			return smp, fmt.Errorf("capture: Next after %d video samples: %w", sc.videos, err)
		}
		if err := sc.check(smp); err != nil {
			return smp, fmt.Errorf("capture: %w", err)
		}
		return smp, nil
	}
	// Read well into the first GOP, then ask for a key frame.
	for sc.videos < 4 {
		if _, err := next(s, &sc); err != nil {
			return err
		}
	}
	if st, ok := s.(hal.Stiller); ok {
		if err := checkStill(ctx, s, st, func() error { _, err := next(s, &sc); return err }); err != nil {
			return err
		}
	}
	s.RequestKeyFrame()
	for got := sc.videos; ; {
		smp, err := next(s, &sc)
		if err != nil {
			return err
		}
		if smp.Kind == hal.Video && smp.Key {
			break
		}
		if sc.videos-got >= KeyFrameWithin {
			return fmt.Errorf("capture: no key frame within %d video samples of RequestKeyFrame", KeyFrameWithin)
		}
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Next(cctx); !errors.Is(err, context.Canceled) {
		return fmt.Errorf("capture: Next with a cancelled context returned %v, want context.Canceled", err)
	}

	closed = true
	if err := s.Close(); err != nil {
		return fmt.Errorf("capture: Close: %w", err)
	}
	if _, err := s.Next(ctx); !errors.Is(err, io.EOF) {
		return fmt.Errorf("capture: Next after Close returned %v, want io.EOF", err)
	}
	if st, ok := s.(hal.Stiller); ok {
		if _, err := st.Still(ctx); !errors.Is(err, io.EOF) {
			return fmt.Errorf("capture: Still after Close returned %v, want io.EOF", err)
		}
	}

	s, err = src.Open(ctx)
	if err != nil {
		return fmt.Errorf("capture: Open after Close: %w", err)
	}
	defer s.Close()
	var sc2 sampleChecker
	for sc2.videos < 2 {
		if _, err := next(s, &sc2); err != nil {
			return fmt.Errorf("after reopening: %w", err)
		}
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("capture: Close after reopening: %w", err)
	}
	return nil
}

// checkStill checks the hal.Stiller of an open stream: Still, asked while
// samples are read (next reads one), returns within CheckTimeout a picture
// of the stream's Format size.
func checkStill(ctx context.Context, s hal.Stream, st hal.Stiller, next func() error) error {
	type still struct {
		img image.Image
		err error
	}
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	got := make(chan still, 1)
	go func() {
		img, err := st.Still(ctx)
		got <- still{img, err}
	}()
	for {
		select {
		case r := <-got:
			if r.err != nil {
				return fmt.Errorf("capture: Still: %w", r.err)
			}
			f := s.Format()
			if size := r.img.Bounds().Size(); size.X != f.Width || size.Y != f.Height {
				return fmt.Errorf("capture: Still is %dx%d, the stream's Format %dx%d", size.X, size.Y, f.Width, f.Height)
			}
			return nil
		default:
		}
		if err := next(); err != nil {
			cancel()
			<-got
			return err
		}
	}
}

// RenderDisplay returns what the hal.Display contract says a cols×rows
// display shows for lines: line i on row i, extra lines ignored, missing
// lines blank, each line cut or padded with spaces to cols, and every rune
// outside printable ASCII (0x20–0x7E) shown as '?'.
func RenderDisplay(cols, rows int, lines ...string) []string {
	out := make([]string, rows)
	for i := range rows {
		var b strings.Builder
		n := 0
		if i < len(lines) {
			for _, r := range lines[i] {
				if n == cols {
					break
				}
				if r < 0x20 || r > 0x7e {
					r = '?'
				}
				b.WriteRune(r)
				n++
			}
		}
		for ; n < cols; n++ {
			b.WriteByte(' ')
		}
		out[i] = b.String()
	}
	return out
}

// The H.264 NAL unit types (ITU-T H.264 table 7-1) that CheckCaptureSource
// looks for and the fake camera writes.
const (
	NALNonIDR = 1
	NALIDR    = 5
	NALSPS    = 7
	NALPPS    = 8
)

// nalTypes returns the NAL unit types of an Annex B byte stream, in order.
func nalTypes(data []byte) []int {
	var types []int
	for i := 0; i+3 <= len(data); {
		if data[i] == 0 && data[i+1] == 0 && data[i+2] == 1 {
			if i+3 < len(data) {
				types = append(types, int(data[i+3]&0x1f))
			}
			i += 3
			continue
		}
		i++
	}
	return types
}
