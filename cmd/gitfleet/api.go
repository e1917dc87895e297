package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// apiIdentity is who made an API request: the name of the token it
// carried (api.tokens[].name, "default" for api.tokenFile, "local" for the
// token the daemon made itself). Scopes per token will hang off it.
type apiIdentity struct {
	Token string
}

type identityKey struct{}

// identityOf returns the identity apiAuth.require put in a request's
// context.
func identityOf(ctx context.Context) (apiIdentity, bool) {
	id, ok := ctx.Value(identityKey{}).(apiIdentity)
	return id, ok
}

// apiToken is a token the API accepts, kept as its SHA-256 so that every
// comparison takes the same time whatever the length of what is presented.
type apiToken struct {
	name string
	sum  [sha256.Size]byte
}

// apiAuth admits requests to the endpoints that change something: each
// must carry one of the daemon's tokens as "Authorization: Bearer <token>".
// Token values are never logged; names are.
type apiAuth struct {
	tokens []apiToken
	log    *slog.Logger
}

func newAPIAuth(log *slog.Logger, tokens map[string]string) *apiAuth {
	a := &apiAuth{log: log}
	for name, v := range tokens {
		a.tokens = append(a.tokens, apiToken{name: name, sum: sha256.Sum256([]byte(v))})
	}
	return a
}

// require wraps the handler of a mutating endpoint. Without a bearer token,
// or with one the daemon does not know, the answer is 401 with
// WWW-Authenticate: Bearer and h is not called; otherwise h runs with the
// token's identity in the request's context. action names what the
// endpoint does (sync, rollback, ...), for the scopes tokens will carry.
func (a *apiAuth) require(action string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, problem := a.identify(r.Header.Get("Authorization"))
		if problem != "" {
			a.log.Warn("api request refused", "action", action, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", problem)
			challenge := `Bearer realm="gitfleet"`
			if problem == "invalid token" {
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			http.Error(w, problem, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// identify finds the token of an Authorization header, or says what is
// wrong with it (without quoting it). Every known token is compared, in
// constant time, whichever matches.
func (a *apiAuth) identify(header string) (apiIdentity, string) {
	scheme, presented, ok := strings.Cut(header, " ")
	presented = strings.TrimSpace(presented)
	if header == "" || !ok || !strings.EqualFold(scheme, "Bearer") || presented == "" {
		return apiIdentity{}, "missing bearer token"
	}
	sum := sha256.Sum256([]byte(presented))
	match := -1
	for i, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return apiIdentity{}, "invalid token"
	}
	return apiIdentity{Token: a.tokens[match].name}, ""
}

// syncGap is the least time between two passes that API requests start.
const syncGap = 2 * time.Second

// coalescer turns bursts of requests into few triggers: a request after
// a quiet gap triggers at once; requests within gap of that trigger are
// merged into one more trigger at the end of the gap. Every request is
// followed, within gap, by a trigger that comes after it.
type coalescer struct {
	trigger func()
	gap     time.Duration
	now     func() time.Time

	mu      sync.Mutex
	last    time.Time // of the last trigger
	pending bool      // a trigger is scheduled
}

// request asks for a trigger; it reports whether it triggered at once.
func (c *coalescer) request() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending {
		return false
	}
	now := c.now()
	if wait := c.last.Add(c.gap).Sub(now); wait > 0 && !c.last.IsZero() {
		c.pending = true
		time.AfterFunc(wait, c.fire)
		return false
	}
	c.last = now
	c.trigger()
	return true
}

func (c *coalescer) fire() {
	c.mu.Lock()
	c.pending = false
	c.last = c.now()
	c.mu.Unlock()
	c.trigger()
}

// syncHandler serves POST /api/v1/sync: 202 with no body, and a pass
// within syncGap.
func syncHandler(log *slog.Logger, c *coalescer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := c.request()
		id, _ := identityOf(r.Context())
		log.Info("sync requested", "token", id.Token, "remote", r.RemoteAddr, "coalesced", !now)
		w.WriteHeader(http.StatusAccepted)
	})
}
