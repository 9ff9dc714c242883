package upload

import (
	"context"
	"errors"
	"net/url"

	"github.com/capturebox/capturebox/upload/kaltura"
)

// API is what the uploader needs from Kaltura. *kaltura.Session implements
// it (with the KS added and renewed); tests may wrap it.
type API interface {
	Call(ctx context.Context, service, action string, params url.Values, out any) error
	Multi(ctx context.Context, reqs []kaltura.Request) ([]kaltura.Result, error)
	Upload(ctx context.Context, ch kaltura.Chunk) (*kaltura.UploadToken, error)
}

// errCrash is returned by a test hook to simulate the process dying at that
// point: the queue stops at once and writes nothing more.
var errCrash = errors.New("upload: simulated crash")

// hookedAPI calls hook before and after every call (tests simulate a crash
// before a request is sent, or after the server processed it but before the
// reply was acted on).
type hookedAPI struct {
	API
	hook func(point string) error
}

func (h hookedAPI) around(name string, fn func() error) error {
	if err := h.hook("before:" + name); err != nil {
		return err
	}
	err := fn()
	if herr := h.hook("after:" + name); herr != nil {
		return herr
	}
	return err
}

func (h hookedAPI) Call(ctx context.Context, service, action string, params url.Values, out any) error {
	return h.around(service+"."+action, func() error { return h.API.Call(ctx, service, action, params, out) })
}

func (h hookedAPI) Multi(ctx context.Context, reqs []kaltura.Request) ([]kaltura.Result, error) {
	var res []kaltura.Result
	err := h.around("multirequest", func() error {
		var err error
		res, err = h.API.Multi(ctx, reqs)
		return err
	})
	return res, err
}

func (h hookedAPI) Upload(ctx context.Context, ch kaltura.Chunk) (*kaltura.UploadToken, error) {
	var tok *kaltura.UploadToken
	err := h.around("uploadtoken.upload", func() error {
		var err error
		tok, err = h.API.Upload(ctx, ch)
		return err
	})
	return tok, err
}
