package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// sessionCookie names the login cookie.
const sessionCookie = "wgu_session"

// sessionTTL is how long a login lasts without use.
const sessionTTL = 12 * time.Hour

// maxSessions bounds the table: logging in again and again cannot grow
// memory without limit (the oldest session goes).
const maxSessions = 64

// session is one logged-in browser. Its CSRF token goes into every form
// and must come back with every POST.
type session struct {
	csrf    string
	expires time.Time
}

// sessions maps cookie values to sessions, in memory only: a restart of
// the daemon logs everyone out.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

// randomToken is 32 random bytes, URL-safe base64.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails since Go 1.24 (the program aborts instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session and returns its cookie value.
func (s *sessions) create(now time.Time) (string, *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, se := range s.m {
		if now.After(se.expires) {
			delete(s.m, id)
		}
	}
	if len(s.m) >= maxSessions {
		var oldest string
		for id, se := range s.m {
			if oldest == "" || se.expires.Before(s.m[oldest].expires) {
				oldest = id
			}
		}
		delete(s.m, oldest)
	}
	id, se := randomToken(), &session{csrf: randomToken(), expires: now.Add(sessionTTL)}
	s.m[id] = se
	return id, se
}

// get returns the session of r's cookie, or nil; a use extends it.
func (s *sessions) get(r *http.Request, now time.Time) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[c.Value]
	if !ok || now.After(se.expires) {
		delete(s.m, c.Value)
		return nil
	}
	se.expires = now.Add(sessionTTL)
	return se
}

// end forgets r's session.
func (s *sessions) end(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		delete(s.m, c.Value)
		s.mu.Unlock()
	}
}

// validCSRF compares the form's token with the session's in constant time.
func (se *session) validCSRF(token string) bool {
	return subtle.ConstantTimeCompare([]byte(se.csrf), []byte(token)) == 1
}

// cookie is the session cookie: not readable by scripts, never sent with
// a request another site starts, and only over TLS when the page is
// served over TLS.
func cookie(value string, r *http.Request, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     sessionCookie,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   r.TLS != nil,
	}
}
