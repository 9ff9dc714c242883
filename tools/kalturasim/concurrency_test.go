package kalturasim

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// uploadClient uploads one file in chunks: the first with resume=0, the
// middle ones in random order, the final one last with resumeAt > 0.
func uploadClient(hc *http.Client, base, ks string, data []byte, chunk int, rng *rand.Rand) (string, error) {
	post := func(ct string, body []byte, path string) (map[string]any, error) {
		resp, err := hc.Post(base+path, ct, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %s", path, b)
		}
		if m["objectType"] == "KalturaAPIException" {
			return nil, fmt.Errorf("%s: %v %v", path, m["code"], m["message"])
		}
		return m, nil
	}
	form := url.Values{"format": {"1"}, "ks": {ks}, "uploadToken:objectType": {"KalturaUploadToken"}, "uploadToken:fileName": {"rec.mp4"},
		"uploadToken:fileSize": {strconv.Itoa(len(data))}}
	tok, err := post("application/x-www-form-urlencoded", []byte(form.Encode()), "/api_v3/service/uploadtoken/action/add")
	if err != nil {
		return "", err
	}
	id := tok["id"].(string)
	send := func(off int, final bool) (map[string]any, error) {
		end := min(off+chunk, len(data))
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("format", "1")
		_ = mw.WriteField("ks", ks)
		_ = mw.WriteField("uploadTokenId", id)
		_ = mw.WriteField("resume", map[bool]string{true: "1", false: "0"}[off > 0])
		_ = mw.WriteField("finalChunk", map[bool]string{true: "1", false: "0"}[final])
		_ = mw.WriteField("resumeAt", strconv.Itoa(off))
		fw, _ := mw.CreateFormFile("fileData", "rec.mp4")
		_, _ = fw.Write(data[off:end])
		_ = mw.Close()
		return post(mw.FormDataContentType(), buf.Bytes(), "/api_v3/service/uploadtoken/action/upload")
	}
	n := (len(data) + chunk - 1) / chunk
	if _, err := send(0, n == 1); err != nil {
		return "", err
	}
	if n == 1 {
		return id, nil
	}
	middle := make([]int, 0, n)
	for i := 1; i < n-1; i++ {
		middle = append(middle, i*chunk)
	}
	rng.Shuffle(len(middle), func(i, j int) { middle[i], middle[j] = middle[j], middle[i] })
	for _, off := range middle {
		if _, err := send(off, false); err != nil {
			return "", err
		}
	}
	m, err := send((n-1)*chunk, true)
	if err != nil {
		return "", err
	}
	if st := m["status"].(float64); st != UploadFull || int(m["uploadedFileSize"].(float64)) != len(data) {
		return "", fmt.Errorf("final: status %v size %v", st, m["uploadedFileSize"])
	}
	return id, nil
}

// runConcurrentUploads runs clients uploaders at once and checks every
// byte by sha256.
func runConcurrentUploads(tb testing.TB, clients, size, chunk int) {
	s, err := New(Options{Seed: 7, DataDir: testDataDir(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer func() {
		hs.Close()
		_ = s.Close()
	}()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	ks := s.IssueKS("box", 2, time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	ids := make([]string, clients)
	sums := make([][32]byte, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 99))
			data := make([]byte, size)
			var seed [32]byte
			seed[0], seed[1] = byte(c), byte(c>>8)
			_, _ = rand.NewChaCha8(seed).Read(data)
			sums[c] = sha256.Sum256(data)
			id, err := uploadClient(hc, hs.URL, ks, data, chunk, rng)
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", c, err)
				return
			}
			ids[c] = id
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	for c, id := range ids {
		s.mu.Lock()
		tok := s.uploadTokens[id]
		s.mu.Unlock()
		f, err := os.Open(tok.dataPath())
		if err != nil {
			tb.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			tb.Fatal(err)
		}
		if !bytes.Equal(h.Sum(nil), sums[c][:]) {
			tb.Fatalf("client %d: content differs", c)
		}
	}
}

// TestConcurrentUploads: 200 clients at once, modest sizes by default.
func TestConcurrentUploads(t *testing.T) {
	size, chunk := 128<<10, 16<<10
	if testing.Short() {
		size = 64 << 10
	}
	runConcurrentUploads(t, 200, size, chunk)
}

// TestConcurrentUploads200 is the full load: 200 clients × 8 MiB in 1 MiB
// chunks. Set KALTURASIM_HEAVY=1 to run it.
func TestConcurrentUploads200(t *testing.T) {
	if os.Getenv("KALTURASIM_HEAVY") != "1" {
		t.Skip("set KALTURASIM_HEAVY=1 for 200 clients × 8 MiB")
	}
	runConcurrentUploads(t, 200, 8<<20, 1<<20)
}

// BenchmarkConcurrentUploads uploads 200 × 8 MiB per iteration.
func BenchmarkConcurrentUploads(b *testing.B) {
	b.SetBytes(200 * 8 << 20)
	for b.Loop() {
		runConcurrentUploads(b, 200, 8<<20, 1<<20)
	}
}
