package kaltura

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// discardServer accepts uploadToken.upload calls, streams the multipart
// body and counts the fileData bytes without keeping them.
func discardServer(count *atomic.Int64) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			n, _ := io.Copy(io.Discard, p)
			if p.FormName() == "fileData" {
				count.Add(n)
			}
		}
		io.WriteString(w, `{"objectType":"KalturaUploadToken","id":"t","status":1,"uploadedFileSize":`+strconv.FormatInt(count.Load(), 10)+`}`)
	}))
}

func benchFile(tb testing.TB, size int64) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "bench.mp4")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	for w := int64(0); w < size; w += int64(len(buf)) {
		n := min(int64(len(buf)), size-w)
		f.Write(buf[:n])
	}
	f.Close()
	return p
}

// uploadFile sends the file in chunks as the uploader does.
func uploadFile(ctx context.Context, c *Client, path string, chunk int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, _ := f.Stat()
	for off := int64(0); off < fi.Size(); off += chunk {
		n := min(chunk, fi.Size()-off)
		_, err := c.Upload(ctx, "K", Chunk{TokenID: "t", FileName: "bench.mp4", Data: io.NewSectionReader(f, off, n), Length: n,
			Resume: off > 0, Final: off+n == fi.Size(), ResumeAt: off})
		if err != nil {
			return err
		}
	}
	return nil
}

// TestUploadMemoryDoesNotGrow uploads 64 MiB in 8 MiB chunks and checks
// that the client allocated far less than the file (the body is streamed
// from disk, never buffered).
func TestUploadMemoryDoesNotGrow(t *testing.T) {
	const size = 64 << 20
	path := benchFile(t, size)
	var count atomic.Int64
	srv := discardServer(&count)
	defer srv.Close()
	c, _ := New(Options{BaseURL: srv.URL, AllowInsecureHTTP: true})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := uploadFile(context.Background(), c, path, 8<<20); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if count.Load() != size {
		t.Fatalf("server got %d bytes", count.Load())
	}
	// Client and (in-process) server together: a streamed upload allocates
	// a few buffers per chunk, not the chunk.
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB for a %d MiB upload", alloc>>10, size>>20)
	if alloc > size/4 {
		t.Errorf("allocated %d MiB for a %d MiB upload", alloc>>20, size>>20)
	}
}

// BenchmarkUploadThroughput streams CAPTUREBOX_BENCH_BYTES (default 256 MiB;
// the lead's figure uses 2 GiB) through Client.Upload in 8 MiB chunks to a
// loopback server, and, when curl is installed, the same file in one
// multipart POST with curl, reported as curl-MB/s.
func BenchmarkUploadThroughput(b *testing.B) {
	size := int64(256 << 20)
	if v := os.Getenv("CAPTUREBOX_BENCH_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	path := benchFile(b, size)
	var count atomic.Int64
	srv := discardServer(&count)
	defer srv.Close()
	c, _ := New(Options{BaseURL: srv.URL, AllowInsecureHTTP: true})
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := uploadFile(context.Background(), c, path, 8<<20); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if curl, err := exec.LookPath("curl"); err == nil {
		start := time.Now()
		out, err := exec.Command(curl, "-sS", "-o", "/dev/null", "-F", "uploadTokenId=t", "-F", "fileData=@"+path+";filename=bench.mp4",
			srv.URL+"/api_v3/service/uploadtoken/action/upload").CombinedOutput()
		if err != nil {
			b.Fatalf("curl: %v %s", err, out)
		}
		b.ReportMetric(float64(size)/1e6/time.Since(start).Seconds(), "curl-MB/s")
	}
}
