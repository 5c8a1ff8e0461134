package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// Assignment and stewards (docs/console.md "Stewards and assignment").
// Each member may be assigned to a console account that organizes:
// contacts keeps the assignee (id and names); the console checks that the
// account exists and may be assigned, audits every change, and narrows a
// steward's view to their own members. A steward reads like an organizer
// but sees only the members assigned to them and their conversations,
// answers them and marks them handled, and nothing else: no campaigns, no
// exports, no imports, no settings.

// requireAny lets through a caller any of whose roles allows.
func (s *Server) requireAny(roles ...account.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := principalOf(r)
			if p == nil {
				s.deny(w, r, apperr.Unauthorized("sign in first"))
				return
			}
			for _, need := range roles {
				if p.Role.Allows(need) {
					next.ServeHTTP(w, r)
					return
				}
			}
			s.deny(w, r, apperr.Forbidden("this needs the %s role; you are %s", roles[0], p.Role))
		})
	}
}

// isSteward reports whether the caller sees only their own members.
func isSteward(p *principal) bool { return p != nil && p.Role == account.RoleSteward }

// errNotYours is what a steward gets for someone else's member or
// conversation: the same as a member who does not exist, so a steward
// cannot learn who else is on the list.
func errNotYours(what string) error { return apperr.NotFound("no %s here", what) }

// assigneeOf reads a member's assignee id from contacts.
func (s *Server) assigneeOf(ctx context.Context, contactID string) (string, error) {
	var c struct {
		AssigneeID string `json:"assignee_id"`
	}
	if err := s.Services.Contacts.JSON(ctx, http.MethodGet, "/contacts/"+url.PathEscape(contactID), nil, &c); err != nil {
		return "", err
	}
	return c.AssigneeID, nil
}

// checkMember refuses a steward a member not assigned to them (as not
// found); everyone else passes.
func (s *Server) checkMember(ctx context.Context, p *principal, contactID string) error {
	if !isSteward(p) {
		return nil
	}
	id, err := s.assigneeOf(ctx, contactID)
	if err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			return errNotYours("member")
		}
		return err
	}
	if id == "" || id != p.ID {
		return errNotYours("member")
	}
	return nil
}

// checkConversation refuses a steward a conversation that is not one of
// their members' ("c:<contact id>"); a conversation with an address only
// is nobody's member, so no steward's.
func (s *Server) checkConversation(ctx context.Context, p *principal, key string) error {
	if !isSteward(p) {
		return nil
	}
	id, ok := strings.CutPrefix(key, "c:")
	if !ok || id == "" {
		return errNotYours("conversation")
	}
	if err := s.checkMember(ctx, p, id); err != nil {
		return errNotYours("conversation")
	}
	return nil
}

// checkInboxItem refuses a steward an inbox item outside their members'
// conversations: the item must be in the conversation named (the page's
// form and the API's body say which), and that conversation theirs.
func (s *Server) checkInboxItem(ctx context.Context, p *principal, itemID, key string) error {
	if !isSteward(p) {
		return nil
	}
	if err := s.checkConversation(ctx, p, key); err != nil {
		return err
	}
	q := url.Values{"conversation": {key}, "status": {"all"}, "limit": {"100"}}
	var out struct {
		Items []inboxItem `json:"items"`
	}
	if err := s.Services.Campaigns.JSON(ctx, http.MethodGet, "/inbox?"+q.Encode(), nil, &out); err != nil {
		return err
	}
	for _, it := range out.Items {
		if it.ID == itemID {
			return nil
		}
	}
	return errNotYours("conversation")
}

// assignedMembers are the ids of the members assigned to an account.
func (s *Server) assignedMembers(ctx context.Context, accountID string) (map[string]bool, error) {
	return s.membersWhere(ctx, url.Values{"assignee_id": {accountID}})
}

// membersWhere are the ids of the members a list query matches, as many
// as tagScanPages pages hold.
func (s *Server) membersWhere(ctx context.Context, base url.Values) (map[string]bool, error) {
	out := map[string]bool{}
	after := ""
	for range tagScanPages {
		q := url.Values{"limit": {"500"}}
		for k, v := range base {
			q[k] = v
		}
		if after != "" {
			q.Set("after", after)
		}
		var page struct {
			Contacts []struct {
				ID string `json:"id"`
			} `json:"contacts"`
			Next string `json:"next"`
		}
		if err := s.Services.Contacts.JSON(ctx, http.MethodGet, "/contacts?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		for _, c := range page.Contacts {
			out[c.ID] = true
		}
		if page.Next == "" || len(page.Contacts) == 0 {
			break
		}
		after = page.Next
	}
	return out, nil
}

// assignee is an account members may be assigned to, as contacts keeps it.
type assignee struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	FirstName string `json:"first_name"`
	Email     string `json:"email,omitempty"`
	Role      string `json:"role,omitempty"`
}

func assigneeFrom(o account.Organizer) assignee {
	name := strings.TrimSpace(o.Name)
	if name == "" {
		name = o.Email
	}
	first := strings.Fields(name + " x")[0]
	if o.Name == "" {
		first, _, _ = strings.Cut(o.Email, "@")
	}
	return assignee{ID: o.ID, Name: name, FirstName: first, Email: o.Email, Role: string(o.Role)}
}

// assignees are the accounts members may be assigned to: enabled
// organizers, admins and stewards, by email.
func (s *Server) assignees(ctx context.Context) ([]assignee, error) {
	list, err := s.Store.Organizers(ctx)
	if err != nil {
		return nil, err
	}
	var out []assignee
	for _, o := range list {
		if o.Disabled || !o.Role.Assignable() {
			continue
		}
		out = append(out, assigneeFrom(o))
	}
	return out, nil
}

// findAssignee finds an assignable account by id or email; "" is nobody
// (unassign) when allowNone.
func (s *Server) findAssignee(ctx context.Context, field, idOrEmail string, allowNone bool) (assignee, error) {
	idOrEmail = strings.TrimSpace(idOrEmail)
	if idOrEmail == "" {
		if allowNone {
			return assignee{}, nil
		}
		return assignee{}, apperr.Invalid(field, "choose who the members go to")
	}
	list, err := s.assignees(ctx)
	if err != nil {
		return assignee{}, err
	}
	for _, a := range list {
		if a.ID == idOrEmail || strings.EqualFold(a.Email, idOrEmail) {
			return a, nil
		}
	}
	return assignee{}, apperr.Invalid(field, "%q is not an organizer or steward who can be assigned members", idOrEmail)
}

// forContacts is an assignee as contacts' API takes it (no email or role).
func (a assignee) forContacts() map[string]string {
	return map[string]string{"id": a.ID, "name": a.Name, "first_name": a.FirstName}
}

func (a assignee) label() string {
	if a.ID == "" {
		return "nobody"
	}
	return a.Name
}

// assignOneTo assigns one member and audits it.
func (s *Server) assignOneTo(r *http.Request, contactID string, a assignee) (json.RawMessage, error) {
	p := principalOf(r)
	var out json.RawMessage
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodPut, "/contacts/"+url.PathEscape(contactID)+"/assignee",
		map[string]any{"assignee": a.forContacts(), "by": p.Label}, &out); err != nil {
		return nil, err
	}
	s.audit(r, p, "contact.assign", "contact "+contactID, "assigned to "+a.label())
	return out, nil
}

// assignFilter assigns everyone a filter matches and audits it.
func (s *Server) assignFilter(r *http.Request, filter json.RawMessage, a assignee, described string) (int, error) {
	p := principalOf(r)
	var out struct {
		Changed int `json:"changed"`
	}
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodPost, "/contacts/assign",
		map[string]any{"filter": filter, "assignee": a.forContacts(), "by": p.Label}, &out); err != nil {
		return 0, err
	}
	s.audit(r, p, "contacts.assign", "contacts "+described, fmt.Sprintf("assigned %d to %s", out.Changed, a.label()))
	return out.Changed, nil
}

// rebalanceTo moves all of from's members to the accounts in to, spread
// evenly, and audits it.
func (s *Server) rebalanceTo(r *http.Request, from string, to []assignee) (int, error) {
	p := principalOf(r)
	list := make([]map[string]string, len(to))
	names := make([]string, len(to))
	for i, a := range to {
		if a.ID == from {
			return 0, apperr.Invalid("to", "move the members to someone other than the one they leave")
		}
		list[i], names[i] = a.forContacts(), a.Name
	}
	var out struct {
		Moved int `json:"moved"`
	}
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodPost, "/contacts/rebalance",
		map[string]any{"from": from, "to": list, "by": p.Label}, &out); err != nil {
		return 0, err
	}
	s.audit(r, p, "contacts.rebalance", "assignee "+from, fmt.Sprintf("moved %d to %s", out.Moved, strings.Join(names, ", ")))
	return out.Moved, nil
}

// The JSON API.

// apiAssignees lists who members may be assigned to.
func (s *Server) apiAssignees(w http.ResponseWriter, r *http.Request) {
	list, err := s.assignees(r.Context())
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	if list == nil {
		list = []assignee{}
	}
	if p := principalOf(r); isSteward(p) {
		// A steward learns only of themself.
		var own []assignee
		for _, a := range list {
			if a.ID == p.ID {
				own = append(own, a)
			}
		}
		list = own
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"assignees": list})
}

// apiAssignments is a member's assignment history.
func (s *Server) apiAssignments(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := s.checkMember(r.Context(), principalOf(r), id); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.proxy(w, r, s.Services.Contacts, http.MethodGet, contactPath(r, "/assignments"), nil)
}

// apiAssignOne assigns one member: {"assignee": "<account id or email>"},
// "" (or null) unassigns.
func (s *Server) apiAssignOne(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Assignee string `json:"assignee"`
	}
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	a, err := s.findAssignee(r.Context(), "assignee", req.Assignee, true)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	out, err := s.assignOneTo(r, chi.URLParam(r, "id"), a)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// apiAssignMany assigns everyone a filter matches:
// {"filter": <audience filter>, "assignee": "<id or email>"}.
func (s *Server) apiAssignMany(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Filter   json.RawMessage `json:"filter"`
		Assignee string          `json:"assignee"`
	}
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	if len(req.Filter) == 0 || string(req.Filter) == "null" {
		s.writeJSONError(w, r, apperr.Invalid("filter", "is required; {\"all\": []} means every member"))
		return
	}
	a, err := s.findAssignee(r.Context(), "assignee", req.Assignee, true)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	n, err := s.assignFilter(r, req.Filter, a, "by filter")
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]int{"changed": n})
}

// apiRebalance moves all of one account's members to others:
// {"from": "<id or email>", "to": ["<id or email>", ...]}.
func (s *Server) apiRebalance(w http.ResponseWriter, r *http.Request) {
	var req struct {
		From string   `json:"from"`
		To   []string `json:"to"`
	}
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	from, to, err := s.rebalancePlan(r.Context(), req.From, req.To)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	n, err := s.rebalanceTo(r, from, to)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]int{"moved": n})
}

// rebalancePlan reads who members leave (any account id or email, even
// one disabled or gone: that is why they move) and who they go to.
func (s *Server) rebalancePlan(ctx context.Context, fromRaw string, toRaw []string) (string, []assignee, error) {
	from := strings.TrimSpace(fromRaw)
	if from == "" {
		return "", nil, apperr.Invalid("from", "choose whose members move")
	}
	if strings.Contains(from, "@") {
		o, err := s.Store.OrganizerByEmail(ctx, strings.ToLower(from))
		if err != nil {
			return "", nil, apperr.Invalid("from", "no account has the email %q", from)
		}
		from = o.ID
	}
	var to []assignee
	seen := map[string]bool{}
	for _, t := range toRaw {
		if strings.TrimSpace(t) == "" {
			continue
		}
		a, err := s.findAssignee(ctx, "to", t, false)
		if err != nil {
			return "", nil, err
		}
		if !seen[a.ID] {
			seen[a.ID] = true
			to = append(to, a)
		}
	}
	if len(to) == 0 {
		return "", nil, apperr.Invalid("to", "choose at least one organizer or steward to take the members")
	}
	return from, to, nil
}

// apiGetReplyDeadline reads how long a reply may wait.
func (s *Server) apiGetReplyDeadline(w http.ResponseWriter, r *http.Request) {
	d, err := s.Store.ReplyDeadline(r.Context())
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, deadlineJSON(d))
}

func deadlineJSON(d store.ReplyDeadline) map[string]any {
	out := map[string]any{"minutes": int(d.Within / time.Minute)}
	if d.UpdatedBy != "" {
		out["updated_by"], out["updated_at"] = d.UpdatedBy, d.UpdatedAt
	}
	return out
}

// apiPutReplyDeadline changes it: {"minutes": 240}.
func (s *Server) apiPutReplyDeadline(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Minutes int `json:"minutes"`
	}
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	p := principalOf(r)
	if err := s.Store.SetReplyDeadline(r.Context(), time.Duration(req.Minutes)*time.Minute, p.Label); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.audit(r, p, "settings.reply_deadline", "reply deadline", strconv.Itoa(req.Minutes)+" minutes")
	d, err := s.Store.ReplyDeadline(r.Context())
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, deadlineJSON(d))
}

// importDirectory adds to an import's query for contacts the accounts
// members may be assigned to, by email (contacts reads a CSV's assignee
// column against them: it does not know the console's accounts), and who
// runs the import, for the assignment history. Both are set here, never
// taken from the caller.
func (s *Server) importDirectory(r *http.Request, q url.Values) error {
	list, err := s.assignees(r.Context())
	if err != nil {
		return fmt.Errorf("listing the accounts an import may assign members to: %w", err)
	}
	dir := make([]map[string]string, len(list))
	for i, a := range list {
		dir[i] = a.forContacts()
		dir[i]["email"] = a.Email
	}
	raw, err := json.Marshal(dir)
	if err != nil {
		return fmt.Errorf("encoding the accounts for an import: %w", err)
	}
	q.Set("assignees", string(raw))
	by := ""
	if p := principalOf(r); p != nil {
		by = p.Label
	}
	q.Set("by", by)
	return nil
}
