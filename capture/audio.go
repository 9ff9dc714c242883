package capture

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// Sound. When Config.Audio is set, a second capture goroutine runs beside
// the video's while any recording runs: it reads PCM chunks from the
// sound input, places them on the video's clock (audioPipe), encodes them
// with Config.AudioCodec into packets of the codec's frame length, and
// hands each packet to every recording, which writes it to its file's
// sound track (audiotrack.go) and watches for silence.
//
// Sync is held by capture times, not by sample counts alone: the packets'
// times follow the sample count from an anchor (the first chunk's At),
// and every chunk's At is compared with where the count puts it. A chunk
// more than ResyncThreshold later than that (the input overran, or its
// clock runs slow against the video's) starts a new anchor: the partial
// packet is finished with silence and the hole is noted as a sound gap. A
// chunk more than ResyncThreshold earlier (the input's clock runs fast)
// loses its first frames, so that what is kept stays at its capture time.

// ResyncThreshold is how far a sound chunk's capture time may stray from
// where the sample count puts it before the sound is re-anchored.
const ResyncThreshold = 40 * time.Millisecond

// Defaults of the sound settings of Config.
const (
	DefaultSilenceAfter = 30 * time.Second
	DefaultSilenceLevel = -50.0 // dBFS
	// audioDrain bounds how long Stop waits for the sound to catch up
	// with the last video frame while no sound arrives (the packet being
	// filled and the input's period); audioDrainMax bounds the whole wait
	// while sound keeps arriving (an encoder behind a busy CPU, up to the
	// reader's queue of audioQueue periods).
	audioDrain    = 250 * time.Millisecond
	audioDrainMax = 3 * time.Second
)

// AudioNotes is what a sidecar says about a recording's sound, so that
// the upload can mention it.
type AudioNotes struct {
	// Codec is the sound track's codec ("opus"); empty when the file has
	// no sound track.
	Codec string `json:"codec,omitempty"`
	// Silences are the stretches, each at least Config.SilenceAfter long,
	// in which the sound stayed below Config.SilenceLevel.
	Silences []Span `json:"silences,omitempty"`
	// Gaps are the stretches without sound: the input was missing,
	// failed, or overran.
	Gaps []Span `json:"gaps,omitempty"`
}

// audioFrame is one encoded packet with what the recordings need to know
// about it.
type audioFrame struct {
	s      hal.Sample
	silent bool
}

// audioPipe turns PCM chunks into timed packets.
type audioPipe struct {
	enc     hal.AudioEncoder
	codec   string
	in      hal.AudioFormat
	frame   int     // input frames per packet
	silence float64 // RMS below which a packet is silent

	started bool
	anchor  time.Time // capture time of frame 0 of the count
	next    int64     // count of buf's first frame since anchor
	buf     []int16   // PCM of the packet being filled
}

func newAudioPipe(enc hal.AudioEncoder, e hal.AudioEncoding, in hal.AudioFormat, silenceDB float64) (*audioPipe, error) {
	if in.Rate <= 0 || in.Channels <= 0 {
		return nil, fmt.Errorf("sound input format %+v", in)
	}
	n := e.FrameSize(in.Rate)
	if n <= 0 {
		return nil, fmt.Errorf("sound codec frame %v at %d Hz", e.FrameDuration, in.Rate)
	}
	return &audioPipe{
		enc: enc, codec: e.Codec, in: in, frame: n,
		silence: silenceRMS(silenceDB),
	}, nil
}

// framesDur is the length of n frames.
func (p *audioPipe) framesDur(n int64) time.Duration {
	r := int64(p.in.Rate)
	return time.Duration(n/r)*time.Second + time.Duration(n%r)*time.Second/time.Duration(r)
}

// durFrames is the number of whole frames in d.
func (p *audioPipe) durFrames(d time.Duration) int {
	return int(int64(d) * int64(p.in.Rate) / int64(time.Second))
}

// push takes one chunk. It returns the packets the chunk completed and,
// when the chunk came after a hole, the hole.
func (p *audioPipe) push(c hal.AudioChunk) ([]audioFrame, *Span, error) {
	ch := p.in.Channels
	pcm := c.PCM[:len(c.PCM)/ch*ch]
	var out []audioFrame
	var gap *Span
	if !p.started {
		p.started, p.anchor, p.next, p.buf = true, c.At, 0, p.buf[:0]
	} else {
		pred := p.anchor.Add(p.framesDur(p.next + int64(len(p.buf)/ch)))
		e := c.At.Sub(pred)
		switch {
		case c.Overrun || e > ResyncThreshold:
			// A hole: finish the partial packet with silence, and start
			// again at the chunk's time.
			if len(p.buf) > 0 {
				p.buf = append(p.buf, make([]int16, p.frame*ch-len(p.buf))...)
				f, err := p.encode()
				if err != nil {
					return nil, nil, err
				}
				out = append(out, f)
			}
			end := p.anchor.Add(p.framesDur(p.next))
			if c.At.After(pred) {
				gap = &Span{Start: pred, End: c.At}
			}
			if c.At.Before(end) {
				// The padding reaches past the chunk's start.
				drop := p.durFrames(end.Sub(c.At)) + 1
				if drop*ch >= len(pcm) {
					return out, gap, nil
				}
				pcm = pcm[drop*ch:]
			} else {
				end = c.At
			}
			p.anchor, p.next = end, 0
		case e < -ResyncThreshold:
			// The input's clock runs ahead of the video's: drop the
			// frames that the count has already placed.
			drop := p.durFrames(-e)
			if drop*ch >= len(pcm) {
				return out, nil, nil
			}
			pcm = pcm[drop*ch:]
		}
	}
	for len(pcm) > 0 {
		n := min(p.frame*ch-len(p.buf), len(pcm))
		p.buf = append(p.buf, pcm[:n]...)
		pcm = pcm[n:]
		if len(p.buf) == p.frame*ch {
			f, err := p.encode()
			if err != nil {
				return out, gap, err
			}
			out = append(out, f)
		}
	}
	return out, gap, nil
}

// encode encodes the full packet in buf.
func (p *audioPipe) encode() (audioFrame, error) {
	rms := pcmRMS(p.buf)
	data, err := p.enc.Encode(p.buf)
	if err != nil {
		return audioFrame{}, fmt.Errorf("encode sound: %w", err)
	}
	f := audioFrame{
		s: hal.Sample{
			Kind: hal.Audio, Codec: p.codec, Data: data,
			At:       p.anchor.Add(p.framesDur(p.next)),
			Duration: p.framesDur(int64(p.frame)),
		},
		silent: rms < p.silence,
	}
	p.next += int64(p.frame)
	p.buf = p.buf[:0]
	return f, nil
}

// runAudio is the sound capture goroutine: it opens the sound input,
// pumps it to the recordings, and on failure notes a gap and retries,
// until ctx ends.
func (r *Recorder) runAudio(ctx context.Context) {
	for ctx.Err() == nil {
		s, err := r.cfg.Audio.Open(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.audioLost(fmt.Errorf("open sound input: %w", err))
			if !sleep(ctx, r.cfg.RetryInterval) {
				return
			}
			continue
		}
		err = r.pumpAudio(ctx, s)
		if cerr := s.Close(); cerr != nil {
			r.log.Warn("closing sound input", "err", cerr)
		}
		if ctx.Err() != nil {
			return
		}
		r.audioLost(err)
		if !sleep(ctx, r.cfg.RetryInterval) {
			return
		}
	}
}

// audioLost notes that the sound input stopped delivering.
func (r *Recorder) audioLost(err error) {
	r.mu.Lock()
	first := r.audioLostSince.IsZero()
	if first {
		r.audioLostSince = r.clock()
	}
	r.mu.Unlock()
	if first {
		r.log.Warn("sound input lost; recording without sound until it returns", "err", err)
	}
}

// pumpAudio moves sound from s to the recordings until Read fails.
func (r *Recorder) pumpAudio(ctx context.Context, s hal.AudioStream) error {
	in := s.Format()
	enc, err := r.cfg.AudioCodec.NewEncoder(in)
	if err != nil {
		return fmt.Errorf("sound encoder for %d Hz × %d: %w", in.Rate, in.Channels, err)
	}
	defer enc.Close()
	pipe, err := newAudioPipe(enc, r.cfg.AudioCodec.Encoding(), in, r.cfg.SilenceLevel)
	if err != nil {
		return err
	}
	// The input is read on its own goroutine, so that a stalled encoder or
	// a slow fsync of a fragment does not make the device overrun; a
	// consumer more than audioQueue chunks behind loses chunks, and the
	// next one is flagged as coming after a hole.
	chunks := make(chan hal.AudioChunk, audioQueue)
	rctx, cancel := context.WithCancel(ctx)
	var readErr error
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(chunks)
		dropped := false
		for {
			c, err := s.Read(rctx)
			if err != nil {
				readErr = err
				return
			}
			c.Overrun = c.Overrun || dropped
			select {
			case chunks <- c:
				dropped = false
			default:
				dropped = true
			}
		}
	}()
	defer func() {
		cancel()
		<-readDone
	}()
	var recs []*Recording
	first := true
	for c := range chunks {
		if ctx.Err() != nil {
			return ctx.Err() // stopping: the backlog is not wanted
		}
		frames, gap, err := pipe.push(c)
		if err != nil {
			return err
		}
		r.mu.Lock()
		if first && !r.audioLostSince.IsZero() {
			gap = &Span{Start: r.audioLostSince, End: c.At}
			r.audioLostSince = time.Time{}
			r.log.Info("sound input back")
		}
		recs = recs[:0]
		for _, rc := range r.recs {
			recs = append(recs, rc)
		}
		r.mu.Unlock()
		if gap != nil && !first {
			r.log.Warn("hole in the sound; re-anchored on the capture clock", "hole", gap.End.Sub(gap.Start), "overrun", c.Overrun)
		}
		for _, rc := range recs {
			if gap != nil {
				rc.audioGap(*gap)
			}
			for _, f := range frames {
				rc.writeAudio(f)
			}
		}
		first = false
	}
	return readErr // set before chunks was closed
}

// audioQueue is how many chunks the sound input's reader keeps for the
// encoder: 2.5 s of 10 ms periods, about 480 KiB of 48 kHz stereo.
const audioQueue = 256

// writeAudio adds one sound packet to the recording and watches for
// silence.
func (rc *Recording) writeAudio(f audioFrame) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.stopped || rc.err != nil || rc.w == nil || f.s.At.Before(rc.w.origin) {
		return
	}
	if rc.videoClosed && !f.s.At.Before(rc.drainTo) {
		return
	}
	if rc.diskErr != nil && rc.needKey {
		return // a write failed: sound waits, like the picture, for the retry's key frame
	}
	if err := rc.w.addAudio(f.s); err != nil {
		rc.diskFailLocked(err, f.s.At)
		return
	}
	end := f.s.At.Add(f.s.Duration)
	rc.audioEnd = end
	if rc.audioMoved != nil {
		close(rc.audioMoved)
		rc.audioMoved = nil
	}
	after := rc.rec.cfg.SilenceAfter
	switch {
	case f.silent && rc.silentSince.IsZero():
		rc.silentSince = f.s.At
	case f.silent && rc.silenceNoted:
		rc.audio.Silences[len(rc.audio.Silences)-1].End = end
	case f.silent && end.Sub(rc.silentSince) >= after:
		rc.silenceNoted = true
		rc.audio.Silences = append(rc.audio.Silences, Span{Start: rc.silentSince, End: end})
		rc.rec.log.Warn("silence on the sound input", "id", rc.id, "since", rc.silentSince)
		rc.writeNotesLocked()
	case !f.silent:
		if rc.silenceNoted {
			rc.audio.Silences[len(rc.audio.Silences)-1].End = f.s.At
			rc.writeNotesLocked()
		}
		rc.silentSince, rc.silenceNoted = time.Time{}, false
	}
}

// audioGap notes a stretch without sound, clipped to the recording.
func (rc *Recording) audioGap(g Span) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.stopped || rc.err != nil || rc.w == nil || !g.End.After(rc.w.origin) {
		return
	}
	if g.Start.Before(rc.w.origin) {
		g.Start = rc.w.origin
	}
	rc.audio.Gaps = append(rc.audio.Gaps, g)
	rc.writeNotesLocked()
}

// writeNotesLocked saves the sound notes in the sidecar, so that a crash
// keeps them.
func (rc *Recording) writeNotesLocked() {
	if err := writeSidecar(rc.dir, rc.sidecarLocked(StateRecording)); err != nil {
		rc.rec.log.Warn("sidecar not updated with the sound notes", "id", rc.id, "err", err)
	}
}

// drainAudio stops the recording taking video and waits until its sound
// reaches the end of its last video frame or the stop, whichever is
// earlier, so that both tracks end together. The stop bounds it because a
// frame that arrives at the very instant of the stop may or may not be in
// the file (the stop and the frame race); with the bound, when the
// recording closes does not depend on which won. The wait ends when no
// sound has arrived for audioDrain, or after audioDrainMax: sound captured
// before the stop but still queued for a busy encoder is kept.
func (rc *Recording) drainAudio() {
	if rc.rec.cfg.Audio == nil {
		return
	}
	stall := time.NewTimer(audioDrain)
	defer stall.Stop()
	limit := time.NewTimer(audioDrainMax)
	defer limit.Stop()
	for {
		rc.mu.Lock()
		if !rc.videoClosed {
			rc.videoClosed = true
			rc.drainTo = rc.lastEnd
			if now := rc.rec.clock(); now.Before(rc.drainTo) {
				rc.drainTo = now
			}
		}
		if rc.w == nil || rc.stopped || rc.err != nil || !rc.audioEnd.Before(rc.drainTo) {
			rc.mu.Unlock()
			return
		}
		if rc.audioMoved == nil {
			rc.audioMoved = make(chan struct{})
		}
		moved := rc.audioMoved
		rc.mu.Unlock()
		select {
		case <-moved:
			stall.Reset(audioDrain)
		case <-stall.C:
			return
		case <-limit.C:
			return
		}
	}
}

// closeAudioLocked completes the sound notes when the recording ends:
// silence still going on, and the sound input still missing since lost.
func (rc *Recording) closeAudioLocked(lost time.Time) {
	if rc.w == nil || rc.w.audio == nil {
		return
	}
	end := rc.w.end
	if !rc.silentSince.IsZero() && !rc.silenceNoted && rc.audioEnd.Sub(rc.silentSince) >= rc.rec.cfg.SilenceAfter {
		rc.audio.Silences = append(rc.audio.Silences, Span{Start: rc.silentSince, End: rc.audioEnd})
	}
	if !lost.IsZero() && lost.Before(end) {
		if lost.Before(rc.w.origin) {
			lost = rc.w.origin
		}
		rc.audio.Gaps = append(rc.audio.Gaps, Span{Start: lost, End: end})
	}
}

// audioEncoding is the sound track new files get; nil without sound.
func (r *Recorder) audioEncoding() *hal.AudioEncoding {
	if r.cfg.Audio == nil {
		return nil
	}
	e := r.cfg.AudioCodec.Encoding()
	return &e
}

// silenceRMS is the RMS of 16-bit PCM at level dBFS: sound below it is
// silent.
func silenceRMS(levelDB float64) float64 { return 32768 * math.Pow(10, levelDB/20) }

// pcmRMS is the root mean square of PCM samples (0 for none).
func pcmRMS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

// Listen opens the sound input for d and returns its level over that time
// in dBFS (RMS; -Inf for digital silence), for a check before a recording
// (the box's pre-flight): the recorder must not hold the input open, as
// only one stream is open at a time. A missing input is an error wrapping
// hal.ErrNoSignal.
func Listen(ctx context.Context, src hal.AudioSource, d time.Duration) (float64, error) {
	st, err := src.Open(ctx)
	if err != nil {
		return 0, fmt.Errorf("listen: %w", err)
	}
	defer st.Close()
	f := st.Format()
	want := int64(d.Seconds() * float64(f.Rate) * float64(f.Channels)) // samples
	var sum float64
	var n int64
	for n < want || n == 0 {
		c, err := st.Read(ctx)
		if err != nil {
			return 0, fmt.Errorf("listen: %w", err)
		}
		rms := pcmRMS(c.PCM)
		sum += rms * rms * float64(len(c.PCM))
		n += int64(len(c.PCM))
	}
	if n == 0 || sum == 0 {
		return math.Inf(-1), nil
	}
	return 20 * math.Log10(math.Sqrt(sum/float64(n))/32768), nil
}

// Silent reports whether a level in dBFS is below the silence level
// levelDB (DefaultSilenceLevel when 0), the recorder's own rule.
func Silent(level, levelDB float64) bool {
	if levelDB == 0 {
		levelDB = DefaultSilenceLevel
	}
	return level < levelDB
}
