// Package ui is wgu's management page: a small server-rendered site, served
// from the hub's own process, that lists the peers with their live state and
// adds, removes, enables and disables them through tunnel.PeerBook.
package ui

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
	"golang.org/x/crypto/bcrypt"

	"github.com/wgu-project/wgu/internal/peerbook"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Limits on what a client can make the server do.
const (
	maxBodyBytes   = 16 << 10 // a form is a few hundred bytes
	maxHeaderBytes = 16 << 10
	requestTimeout = 30 * time.Second // an add reloads the tunnel
	failedLoginLag = time.Second      // on top of bcrypt's own cost
)

// Config is what the page needs from the daemon.
type Config struct {
	Interface string
	Book      *peerbook.PeerBook
	// Status reads the tunnel's live state.
	Status func() (*uapi.Status, error)
	// PasswordHash is the bcrypt hash of the page's password.
	PasswordHash []byte
	Log          *slog.Logger
}

// Server serves the page.
type Server struct {
	cfg      Config
	tmpl     *template.Template
	sessions *sessions
	now      func() time.Time
}

// New checks cfg and parses the templates.
func New(cfg Config) (*Server, error) {
	if _, err := bcrypt.Cost(cfg.PasswordHash); err != nil {
		return nil, fmt.Errorf("management page password hash: %w (expected a bcrypt hash, e.g. from `wgu ui-hash`)", err)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"prefixes": joinPrefixes,
		"bytes":    humanBytes,
		"ago":      func(t time.Time) string { return ago(t, time.Now()) },
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("management page templates: %w", err)
	}
	return &Server{cfg: cfg, tmpl: tmpl, sessions: newSessions(), now: time.Now}, nil
}

// Handler is the page's routes, with its security headers and limits.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.authed(s.logout))
	mux.HandleFunc("GET /{$}", s.authedPage(s.index))
	mux.HandleFunc("GET /peers", s.authedPage(s.peerRows))
	mux.HandleFunc("POST /add", s.authed(s.add))
	mux.HandleFunc("POST /remove", s.authed(s.change(func(ctx context.Context, ref string) error {
		_, err := s.cfg.Book.Remove(ctx, ref)
		return err
	})))
	mux.HandleFunc("POST /enable", s.authed(s.change(func(ctx context.Context, ref string) error {
		return s.cfg.Book.SetEnabled(ctx, ref, true)
	})))
	mux.HandleFunc("POST /disable", s.authed(s.change(func(ctx context.Context, ref string) error {
		return s.cfg.Book.SetEnabled(ctx, ref, false)
	})))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		// Not no-referrer: with it, browsers send "Origin: null" on form posts,
		// which sameOrigin rightly refuses.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		mux.ServeHTTP(w, r)
	})
}

// Serve listens on addr (a bare :PORT means loopback) until ctx ends.
func (s *Server) Serve(ctx context.Context, addr string) (stop func(), bound string, err error) {
	addr = LoopbackDefault(addr)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("management page on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           http.TimeoutHandler(s.Handler(), requestTimeout, "request timed out"),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      requestTimeout + 5*time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Log.Error("management page stopped", "err", err)
		}
	}()
	return func() { srv.Close() }, ln.Addr().String(), nil
}

// LoopbackDefault turns a bare ":PORT" into "127.0.0.1:PORT": the page is
// reachable beyond the host only when an address says so.
func LoopbackDefault(addr string) string {
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// IsLoopback reports whether addr (HOST:PORT) binds loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(LoopbackDefault(addr))
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// authed lets a POST through only with a session and its CSRF token.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := s.sessions.get(r, s.now())
		if se == nil {
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		if !sameOrigin(r) || !se.validCSRF(r.PostFormValue("csrf")) {
			http.Error(w, "bad or missing CSRF token (reload the page)", http.StatusForbidden)
			return
		}
		h(w, r, se)
	}
}

// authedPage sends a browser without a session to the login page.
func (s *Server) authedPage(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := s.sessions.get(r, s.now())
		if se == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h(w, r, se)
	}
}

// sameOrigin refuses a POST whose Origin header (browsers send one) names
// another site: a second line of defence behind SameSite and the token.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	i := strings.Index(o, "://")
	return i >= 0 && o[i+3:] == r.Host
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		s.cfg.Log.Error("management page template", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login.html", map[string]any{"Interface": s.cfg.Interface})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site login refused", http.StatusForbidden)
		return
	}
	if bcrypt.CompareHashAndPassword(s.cfg.PasswordHash, []byte(r.PostFormValue("password"))) != nil {
		s.cfg.Log.Warn("management page: failed login", "remote", r.RemoteAddr)
		time.Sleep(failedLoginLag)
		s.render(w, http.StatusUnauthorized, "login.html", map[string]any{"Interface": s.cfg.Interface, "Error": "Wrong password."})
		return
	}
	id, _ := s.sessions.create(s.now())
	http.SetCookie(w, cookie(id, r, int(sessionTTL/time.Second)))
	s.cfg.Log.Info("management page: logged in", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	s.sessions.end(r)
	http.SetCookie(w, cookie("", r, -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// pageData is what index.html and added.html show.
type pageData struct {
	Interface string
	CSRF      string
	Peers     []peerbook.PeerView
	Endpoint  string
	Error     string
	Added     *addedData
}

type addedData struct {
	Name, Address, Config string
	QR                    template.URL // data:image/png;base64,…
	Download              template.URL // data:text/plain;base64,…
}

func (s *Server) data(se *session) pageData {
	d := pageData{Interface: s.cfg.Interface, CSRF: se.csrf, Endpoint: s.cfg.Book.HubEndpoint()}
	entries, err := s.cfg.Book.Entries()
	if err != nil {
		d.Error = err.Error()
	}
	var st *uapi.Status
	if s.cfg.Status != nil {
		st, _ = s.cfg.Status()
	}
	d.Peers = peerbook.PeerViews(entries, st)
	return d
}

func (s *Server) index(w http.ResponseWriter, r *http.Request, se *session) {
	s.render(w, http.StatusOK, "index.html", s.data(se))
}

// peerRows is the peer table's body alone, which the page's script fetches
// every few seconds to keep handshake ages and transfer live.
func (s *Server) peerRows(w http.ResponseWriter, r *http.Request, se *session) {
	s.render(w, http.StatusOK, "rows.html", s.data(se))
}

func (s *Server) add(w http.ResponseWriter, r *http.Request, se *session) {
	np, err := parseAddForm(r)
	if err == nil {
		var added *peerbook.AddedPeer
		if added, err = s.cfg.Book.Add(r.Context(), np); err == nil {
			s.cfg.Log.Info("management page: peer added", "name", added.Name, "public_key", added.PublicKey.String())
			png, qerr := qrcode.Encode(string(added.ClientConfig), qrcode.Medium, 512)
			if qerr != nil {
				err = qerr
			} else {
				d := s.data(se)
				d.Added = &addedData{
					Name:     added.Name,
					Address:  joinPrefixes(added.Address),
					Config:   string(added.ClientConfig),
					QR:       template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
					Download: template.URL("data:text/plain;base64," + base64.StdEncoding.EncodeToString(added.ClientConfig)),
				}
				s.render(w, http.StatusOK, "added.html", d)
				return
			}
		}
	}
	d := s.data(se)
	d.Error = "Adding the peer failed: " + err.Error()
	s.render(w, http.StatusBadRequest, "index.html", d)
}

// parseAddForm reads the add form into a NewPeer.
func parseAddForm(r *http.Request) (peerbook.NewPeer, error) {
	np := peerbook.NewPeer{
		Name:          strings.TrimSpace(r.PostFormValue("name")),
		Endpoint:      strings.TrimSpace(r.PostFormValue("endpoint")),
		PresharedKey:  r.PostFormValue("psk") != "",
		KeepClientKey: r.PostFormValue("keep") != "",
	}
	if err := peerbook.CheckPeerName(np.Name); err != nil {
		return np, err
	}
	var err error
	if v := strings.TrimSpace(r.PostFormValue("ip")); v != "" && v != "auto" {
		if np.Address, err = config.ParsePrefixList(v); err != nil {
			return np, fmt.Errorf("address: %w", err)
		}
	}
	if v := strings.TrimSpace(r.PostFormValue("allowed_ips")); v != "" {
		if np.AllowedIPs, err = config.ParsePrefixList(v); err != nil {
			return np, fmt.Errorf("allowed IPs: %w", err)
		}
	}
	for _, v := range strings.Split(r.PostFormValue("dns"), ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return np, fmt.Errorf("DNS %q: expected IP addresses separated by commas", v)
		}
		np.DNS = append(np.DNS, a)
	}
	if v := strings.TrimSpace(r.PostFormValue("keepalive")); v != "" {
		k, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return np, fmt.Errorf("keepalive %q: expected 0 to 65535 seconds", v)
		}
		np.Keepalive = uint16(k)
	}
	return np, nil
}

// change runs a remove/enable/disable of the form's peer and goes back to
// the list.
func (s *Server) change(do func(context.Context, string) error) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		ref := r.PostFormValue("peer")
		if err := do(r.Context(), ref); err != nil {
			d := s.data(se)
			d.Error = err.Error()
			s.render(w, http.StatusBadRequest, "index.html", d)
			return
		}
		s.cfg.Log.Info("management page: peer changed", "path", r.URL.Path, "peer", ref)
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// humanBytes is "764 B", "1.2 KiB", "3.4 MiB".
func humanBytes(b uint64) string {
	const k = 1024
	switch {
	case b < k:
		return strconv.FormatUint(b, 10) + " B"
	case b < k*k:
		return fmt.Sprintf("%.1f KiB", float64(b)/k)
	case b < k*k*k:
		return fmt.Sprintf("%.1f MiB", float64(b)/(k*k))
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(k*k*k))
}

// ago is "never", "5s ago", "2m3s ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t).Truncate(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String() + " ago"
}
