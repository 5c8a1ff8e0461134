// Package server is the console's HTTP edge: the organizers' web pages
// (server-rendered html/template with a little plain JavaScript, every
// asset embedded) and the JSON API under /api. It owns sign-in, sessions,
// CSRF, roles and the audit log, and forwards everything else to the
// services' APIs.
package server

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/limit"
	"github.com/musterhq/muster/services/console/store"
	"github.com/musterhq/muster/services/console/upstream"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the console's API description, served at /api/openapi.json.
func OpenAPI() []byte { return openAPI }

// Setting is one configured value the settings page shows.
type Setting struct {
	Name, Value string
}

// Deps are what the server needs.
type Deps struct {
	Store   *store.Store
	Limiter *limit.Limiter
	// Uploads and Streams bound the CSV imports and live result streams
	// each organizer (and everyone together) may have open at once.
	Uploads, Streams *limit.Slots
	Services         upstream.Services
	Log              *zap.Logger
	// SessionTTL is how long a session lasts after sign-in.
	SessionTTL time.Duration
	// SecureCookie is "auto" (Secure when the request came over https,
	// directly or per X-Forwarded-Proto), "true" or "false".
	SecureCookie string
	// MaxUpload bounds a signed-in caller's CSV upload; every other body
	// is bounded at web.MaxJSONBody.
	MaxUpload int64
	// Settings are shown, read-only, on the settings page: what an admin
	// decides about, never addresses, URLs or connection strings.
	Settings []Setting
	// Now reads the clock; nil is time.Now.
	Now func() time.Time
	// TokenTTL is how long a new API token lasts unless its maker says;
	// zero is DefaultTokenTTL.
	TokenTTL time.Duration
	// PublicURL is the console's address as organizers reach it: the base
	// of the links in invitation and password-reset emails. Empty sends
	// no such emails (an invitation then shows a one-time password).
	PublicURL string
	// SignIns counts sign-in attempts by outcome (ok, failed, limited: the
	// rate limit locked the email or address out for a while); nil counts
	// nothing.
	SignIns *prometheus.CounterVec
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// when counting sign-in attempts per address (an ingress in front).
	TrustedProxies []netip.Prefix
}

// Server serves the console.
type Server struct {
	Deps
	pages map[string]*template.Template
	zone  *zoneCache
	// setup is set once first-run setup is known to be done.
	setup *atomic.Bool
	// mail counts account emails still being sent after their answer.
	mail *sync.WaitGroup
}

// New parses the templates; a broken template is an error at start, not
// at first view.
func New(d Deps) (*Server, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SessionTTL <= 0 {
		d.SessionTTL = 12 * time.Hour
	}
	if d.TokenTTL <= 0 {
		d.TokenTTL = DefaultTokenTTL
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Server{Deps: d, pages: pages, zone: &zoneCache{}, setup: &atomic.Bool{}, mail: &sync.WaitGroup{}}, nil
}

// Routes mounts every page and API route, each behind the role it needs.
func (s *Server) Routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.securityHeaders)
	r.Use(s.authenticate)
	r.Use(s.limitBody)
	r.Use(s.checkCSRF)

	static, _ := fs.Sub(staticFS, "static") // the directory is embedded above
	r.Handle("/static/*", http.StripPrefix("/static/", staticHandler(static)))
	r.Get("/signin", s.signInPage)
	r.Post("/signin", s.signIn)
	// Public like /signin, and protected the same way (a double-submit
	// CSRF cookie): asking for a password reset (rate-limited, the same
	// answer whether or not the account exists) and setting a password
	// from an emailed link (the link's single-use, expiring token is the
	// proof).
	r.Get("/account/forgot", s.forgotPage)
	r.Post("/account/forgot", s.requestReset)
	r.Get(setPasswordPath, s.linkPage)
	r.Post(setPasswordPath, s.setPasswordFromLink)
	// The JSON API: a session (with the CSRF header on writes) or a
	// Bearer token; answers are JSON, errors included, a path the API does
	// not have (404) or a method a path does not take (405) too. Each
	// route's role is in openapi.json as x-role, and a test holds the two
	// together. Viewers read (GET only: every other method is a write, or
	// asks for an organizer's work, like sizing an audience or rendering
	// a preview); organizers change things and take whole files of member
	// data; admins manage access and settings.
	r.Route("/api", func(r chi.Router) {
		r.NotFound(s.apiNotFound)
		r.MethodNotAllowed(s.apiMethodNotAllowed(r))
		r.Get("/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(openAPI)
		})
		r.Group(func(r chi.Router) {
			r.Use(s.passwordChanged)
			// Stewards read their own members and conversations here, and
			// answer them: each handler narrows what a steward sees
			// (stewards.go). Viewers read everyone's.
			r.Group(func(r chi.Router) {
				r.Use(s.requireAny(account.RoleViewer, account.RoleSteward))
				r.Get("/contacts", s.apiListContacts)
				r.Get("/contacts/{id}", s.apiGetContact)
				r.Get("/contacts/{id}/assignments", s.apiAssignments)
				r.Get("/inbox/conversations", s.apiConversations)
				r.Get("/saved-replies", s.apiListSavedReplies)
				r.Get("/assignees", s.apiAssignees)
				r.Get("/reply-deadline", s.apiGetReplyDeadline)
			})
			r.Group(func(r chi.Router) {
				r.Use(s.require(account.RoleSteward))
				r.Post("/inbox/{id}/reply", s.apiInboxReply)
				r.Post("/inbox/{id}/handled", s.apiInboxHandled)
				r.Post("/inbox/handled", s.apiHandledMany)
			})
			r.Group(func(r chi.Router) {
				r.Use(s.require(account.RoleViewer))
				r.Get("/contacts/{id}/consent", s.apiConsentHistory)
				r.Get("/contacts/{id}/ratings", s.apiRatings)
				r.Get("/chart", s.apiChart)
				r.Get("/imports/{id}", s.apiGetImport)
				r.Get("/campaigns", s.apiListCampaigns)
				r.Get("/campaigns/{id}", s.apiGetCampaign)
				r.Get("/campaigns/{id}/steps", s.apiCampaignRead("/steps"))
				r.Get("/campaigns/{id}/estimate", s.apiCampaignRead("/estimate"))
				r.Get("/campaigns/{id}/results", s.apiCampaignRead("/results"))
				r.Get("/campaigns/{id}/results/stream", s.apiResultsStream)
				r.Get("/campaigns/{id}/rsvps", s.apiAnswers("rsvps"))
				r.Get("/campaigns/{id}/signatures", s.apiAnswers("signatures"))
				r.Get("/campaigns/{id}/calls", s.apiAnswers("calls"))
				r.Get("/campaigns/{id}/poll", s.apiPoll)
				r.Get("/campaigns/{id}/poll-answers", s.apiPollAnswers)
				r.Get("/contacts/{id}/poll-answers", s.apiContactPollAnswers)
				r.Get("/inbox", s.apiInbox)
				r.Get("/messages", s.apiListMessages)
				r.Get("/messages/{id}", s.apiGetMessage)
				r.Get("/suppressions", s.apiListSuppressions)
				r.Get("/reviews", s.apiListReviews)
				r.Get("/settings", s.apiGetSettings)
				r.Get("/state-rules", s.apiListStateRules)
				r.Get("/tags", s.apiTags)
			})
			r.Group(func(r chi.Router) {
				r.Use(s.require(account.RoleOrganizer))
				r.Post("/contacts", s.apiCreateContact)
				r.Patch("/contacts/{id}", s.apiUpdateContact)
				r.Post("/contacts/{id}/merge", s.apiMergeContact)
				r.Post("/contacts/tags", s.apiTagContacts)
				r.Put("/contacts/{id}/rating", s.apiRateContact)
				r.Post("/contacts/ratings", s.apiRateMany)
				r.Post("/audiences/count", s.apiCountAudience)
				r.Post("/contacts/{id}/opt-out", s.apiChangeConsent("opt-out"))
				r.Post("/contacts/{id}/opt-in", s.apiChangeConsent("opt-in"))
				r.Get("/contacts/export.csv", s.apiExportContacts)
				r.Get("/consent/export.csv", s.apiExportConsent)
				r.Post("/imports", s.apiStartImport)
				r.Get("/imports/{id}/errors.csv", s.apiImportReport("errors"))
				r.Get("/imports/{id}/merges.csv", s.apiImportReport("merges"))
				r.Post("/campaigns", s.apiCreateCampaign)
				r.Put("/campaigns/{id}", s.apiUpdateCampaign)
				r.Patch("/campaigns/{id}/meeting", s.apiChangeMeeting)
				r.Post("/campaigns/{id}/preview", s.apiPreview)
				r.Post("/campaigns/{id}/test", s.apiTestSend)
				r.Post("/campaigns/{id}/launch", s.apiCampaignAction("launch"))
				r.Post("/campaigns/{id}/pause", s.apiCampaignAction("pause"))
				r.Post("/campaigns/{id}/resume", s.apiCampaignAction("resume"))
				r.Post("/campaigns/{id}/cancel", s.apiCampaignAction("cancel"))
				r.Post("/campaigns/{id}/reschedule", s.apiReschedule)
				r.Post("/campaigns/{id}/duplicate", s.apiDuplicate)
				r.Get("/campaigns/{id}/rsvps.csv", s.apiAnswersCSV("rsvps"))
				r.Get("/campaigns/{id}/signatures.csv", s.apiAnswersCSV("signatures"))
				r.Get("/campaigns/{id}/calls.csv", s.apiAnswersCSV("calls"))
				r.Get("/campaigns/{id}/poll-answers.csv", s.apiPollAnswersCSV)
				r.Post("/reviews/{id}/decision", s.apiDecideReview)
				r.Put("/contacts/{id}/assignee", s.apiAssignOne)
				r.Post("/contacts/assign", s.apiAssignMany)
				r.Post("/contacts/rebalance", s.apiRebalance)
			})
			r.Group(func(r chi.Router) {
				r.Use(s.require(account.RoleAdmin))
				r.Put("/settings", s.apiPutSettings)
				r.Put("/state-rules/{state}", s.apiPutStateRule)
				r.Get("/organizers", s.apiListOrganizers)
				r.Patch("/organizers/{id}", s.apiChangeAccess)
				r.Get("/tokens", s.apiListTokens)
				r.Post("/tokens", s.apiCreateToken)
				r.Post("/tokens/{id}/revoke", s.apiRevokeToken)
				r.Post("/saved-replies", s.apiCreateSavedReply)
				r.Put("/saved-replies/{id}", s.apiUpdateSavedReply)
				r.Delete("/saved-replies/{id}", s.apiDeleteSavedReply)
				r.Put("/reply-deadline", s.apiPutReplyDeadline)
			})
		})
	})

	r.Group(func(r chi.Router) {
		r.Use(s.requireAny(account.RoleViewer, account.RoleSteward))
		r.Post("/signout", s.signOut)
		r.Get("/account", s.accountPage)
		r.Post("/account/password", s.changePassword)
		// Stewards' pages: their members and their conversations only.
		r.Group(func(r chi.Router) {
			r.Use(s.passwordChanged, s.setupFirst)
			r.Get("/", s.dashboard)
			r.Get("/contacts", s.contactsPage)
			r.Get("/contacts/{id}", s.contactPage)
			r.Get("/inbox", s.inboxPage)
		})
		r.Group(func(r chi.Router) {
			r.Use(s.require(account.RoleSteward), s.passwordChanged, s.setupFirst)
			r.Post("/inbox/{id}/reply", s.inboxReply)
			r.Post("/inbox/{id}/handled", s.inboxHandled)
			r.Post("/inbox/handled", s.inboxHandledMany)
		})
		r.Group(func(r chi.Router) {
			r.Use(s.require(account.RoleViewer), s.passwordChanged, s.setupFirst)
			r.Get("/contacts/imports/{id}", s.importPage)
			r.Get("/contacts/imports/{id}/status", s.importStatus)
			r.Get("/chart", s.chartPage)
			r.Get("/campaigns", s.campaignsPage)
			r.Get("/campaigns/{id}", s.campaignPage)
			r.Get("/campaigns/{id}/stream", s.campaignStream)
			r.Get("/optouts", s.optOutsPage)
			r.Get("/settings", s.settingsPage)
		})
	})
	r.Group(func(r chi.Router) {
		r.Use(s.require(account.RoleOrganizer), s.passwordChanged, s.setupFirst)
		r.With(s.composeAfterSetup).Get("/campaigns/new", s.newCampaignPage)
		r.With(s.composeAfterSetup).Post("/campaigns/new", s.createCampaign)
		r.Get("/contacts/import", s.importForm)
		r.Get("/contacts/imports/{id}/errors.csv", s.importErrors)
		r.Get("/optouts/consent.csv", s.consentExport)
		r.Post("/contacts/import", s.importUpload)
		r.Post("/contacts/{id}/consent", s.changeConsent)
		r.Get("/contacts/{id}/edit", s.editContactPage)
		r.Post("/contacts/{id}/edit", s.editContact)
		r.Post("/contacts/{id}/tags", s.tagContact)
		r.Post("/contacts/tags", s.bulkTag)
		r.Post("/contacts/{id}/rating", s.rateContact)
		r.Post("/contacts/ratings", s.bulkRate)
		r.Get("/campaigns/audience-count", s.audienceCount)
		r.Get("/campaigns/{id}/edit", s.editCampaignPage)
		r.Post("/campaigns/{id}/edit", s.saveEdit)
		r.Post("/campaigns/{id}/draft", s.saveDraft)
		r.Post("/campaigns/{id}/test", s.testSend)
		r.Get("/campaigns/{id}/email-preview", s.emailPreview)
		r.Post("/campaigns/{id}/duplicate", s.duplicate)
		r.Post("/campaigns/{id}/reschedule", s.reschedule)
		r.Get("/campaigns/{id}/launch", s.confirmLaunchPage)
		r.Post("/campaigns/{id}/launch", s.launch)
		r.Post("/campaigns/{id}/pause", s.campaignAction("pause"))
		r.Post("/campaigns/{id}/resume", s.campaignAction("resume"))
		r.Post("/campaigns/{id}/cancel", s.campaignAction("cancel"))
		r.Post("/inbox/reviews/{id}/decision", s.reviewDecision)
		r.Post("/contacts/{id}/assignee", s.assignOne)
		r.Post("/contacts/assign", s.assignMany)
		r.Get("/contacts/assignments", s.assignmentsPage)
		r.Post("/contacts/rebalance", s.rebalance)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.require(account.RoleAdmin), s.passwordChanged)
		// First-run setup: where an admin is taken until it is done.
		r.Get("/admin/setup", s.setupPage)
		r.Post("/admin/setup", s.saveSetup)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.require(account.RoleAdmin), s.passwordChanged, s.setupFirst)
		r.Get("/admin/organizers", s.organizersPage)
		r.Post("/admin/organizers", s.inviteOrganizer)
		r.Post("/admin/organizers/{id}/access", s.changeAccessForm)
		r.Get("/admin/tokens", s.tokensPage)
		r.Post("/admin/tokens", s.createToken)
		r.Post("/admin/tokens/{id}/revoke", s.revokeToken)
		r.Get("/admin/audit", s.auditPage)
		r.Post("/contacts/{id}/erase", s.eraseContact)
		r.Get("/admin/saved-replies", s.savedRepliesPage)
		r.Post("/admin/saved-replies", s.createSavedReply)
		r.Post("/admin/saved-replies/{id}", s.updateSavedReply)
		r.Post("/admin/saved-replies/{id}/delete", s.deleteSavedReply)
		r.Post("/settings", s.saveSettings)
		r.Post("/settings/state-rules", s.saveStateRule)
		r.Post("/settings/reply-deadline", s.saveReplyDeadline)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "There is no page here.")
	})
	return r
}

// securityHeaders keeps pages out of frames and other sites' reach; every
// script and style is served from the console itself. Over https (as the
// secure-cookie setting judges it) browsers are told to come back over
// https only.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if s.secure(r) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		next.ServeHTTP(w, r)
	})
}

func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}
