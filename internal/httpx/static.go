package httpx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// Asset serves one file embedded in the binary. It is revalidated on every use (an ETag of
// its content), so a new binary's file is never hidden behind a cached old one.
func Asset(name string, content []byte) http.Handler {
	sum := sha256.Sum256(content)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	ctype := mime.TypeByExtension(path.Ext(name))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if ctype != "" {
			h.Set("Content-Type", ctype)
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(content))
	})
}

// Assets serves the files of fsys under their paths (the request path with prefix removed);
// "" and directories are not listed: a missing file is a JSON 404.
func Assets(fsys fs.FS, prefix string) http.Handler {
	handlers := map[string]http.Handler{}
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		handlers[p] = Asset(p, b)
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path[min(len(prefix), len(r.URL.Path)):]
		if h, ok := handlers[p]; ok {
			h.ServeHTTP(w, r)
			return
		}
		Error(w, http.StatusNotFound, "no such file")
	})
}
