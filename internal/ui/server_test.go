package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wgu-project/wgu/internal/peerbook"
)

const testHub = `[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
Address = 10.0.0.1/24
ListenPort = 51820
# Endpoint = 192.0.2.1:51820
`

func newTestServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wg0.conf")
	if err := os.WriteFile(path, []byte(testHub), 0o600); err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	s, err := New(Config{Interface: "wg0", Book: &peerbook.PeerBook{Path: path}, PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, path
}

// client is a browser-like client: cookies kept, redirects not followed.
func client() *http.Client {
	jar := &cookieJar{}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type cookieJar struct{ c []*http.Cookie }

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) { j.c = append(j.c, cs...) }
func (j *cookieJar) Cookies(*url.URL) []*http.Cookie          { return j.c }

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	defer r.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestPageLoginCSRFAndAdd(t *testing.T) {
	ts, path := newTestServer(t)
	c := client()
	// Without a session: the list redirects to the login, a POST is refused.
	r, _ := c.Get(ts.URL + "/")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("GET / without login: %v", r.Status)
	}
	r, _ = c.PostForm(ts.URL+"/add", url.Values{"name": {"x"}})
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /add without login: %v", r.Status)
	}
	r, _ = c.PostForm(ts.URL+"/login", url.Values{"password": {"wrong"}})
	if r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
		t.Fatalf("wrong password: %v, cookies %v", r.Status, r.Cookies())
	}
	r, _ = c.PostForm(ts.URL+"/login", url.Values{"password": {"correct horse"}})
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 {
		t.Fatalf("login: %v", r.Status)
	}
	ck := r.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP", ck)
	}
	r, _ = c.Get(ts.URL + "/")
	page := body(t, r)
	m := csrfRE.FindStringSubmatch(page)
	if r.StatusCode != http.StatusOK || m == nil || !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("GET / logged in: %v\n%s", r.Status, page)
	}
	// A POST without the token, or from another origin, changes nothing.
	r, _ = c.PostForm(ts.URL+"/add", url.Values{"name": {"phone"}})
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /add without CSRF token: %v", r.Status)
	}
	req, _ := http.NewRequest("POST", ts.URL+"/add", strings.NewReader(url.Values{"name": {"phone"}, "csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	r, _ = c.Do(req)
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %v", r.Status)
	}
	if b, _ := os.ReadFile(path); string(b) != testHub {
		t.Fatalf("a refused request changed the file:\n%s", b)
	}
	// Too large a body is cut off.
	r, _ = c.PostForm(ts.URL+"/add", url.Values{"name": {strings.Repeat("a", maxBodyBytes)}, "csrf": {m[1]}})
	if r.StatusCode == http.StatusOK {
		t.Fatalf("oversized POST accepted")
	}
	r, _ = c.PostForm(ts.URL+"/add", url.Values{"name": {"phone"}, "csrf": {m[1]}, "keepalive": {"25"}, "ip": {"auto"}})
	page = body(t, r)
	if r.StatusCode != http.StatusOK || !strings.Contains(page, `id="qr" src="data:image/png;base64,`) || !strings.Contains(page, "10.0.0.2/32") {
		t.Fatalf("add: %v\n%s", r.Status, page)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "# Name = phone") {
		t.Fatalf("add did not reach the file:\n%s", b)
	}
	r, _ = c.Get(ts.URL + "/peers")
	if rows := body(t, r); !strings.Contains(rows, `data-name="phone"`) {
		t.Fatalf("rows: %s", rows)
	}
}

func TestPageBindsLoopbackByDefault(t *testing.T) {
	for addr, want := range map[string]bool{":8080": true, "127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:1": false, "192.0.2.1:1": false} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
	if got := LoopbackDefault(":8080"); got != "127.0.0.1:8080" {
		t.Errorf("LoopbackDefault(:8080) = %q", got)
	}
}
