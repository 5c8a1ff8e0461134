package importer

import (
	"fmt"
	"strings"

	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/apperr"
)

// Account is a console account members may be assigned to, as the
// console lists them when it starts an import: contacts does not know the
// console's accounts, so the import carries the directory its assignee
// column is read against.
type Account struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	FirstName string `json:"first_name"`
	Email     string `json:"email"`
}

// Directory maps an account's email, in lower case, to the assignee
// contacts stores. A nil Directory means the import came without one.
type Directory map[string]store.Assignee

// MaxAccounts bounds the directory an import accepts.
const MaxAccounts = 5000

// NewDirectory checks the console's accounts and indexes them by email.
func NewDirectory(list []Account) (Directory, error) {
	if len(list) > MaxAccounts {
		return nil, apperr.Invalid("assignees", "%d accounts; at most %d", len(list), MaxAccounts)
	}
	d := make(Directory, len(list))
	for i, acc := range list {
		email := strings.ToLower(strings.TrimSpace(acc.Email))
		a, err := store.Assignee{ID: acc.ID, Name: acc.Name, FirstName: acc.FirstName}.Check("assignees")
		if err == nil && (a.ID == "" || email == "") {
			err = apperr.Invalid("assignees", "account %d needs an id and an email", i+1)
		}
		if err != nil {
			return nil, err
		}
		d[email] = a
	}
	return d, nil
}

// lookup finds the assignee an assignee cell names, or explains why none.
func (d Directory) lookup(cell string) (store.Assignee, error) {
	if a, ok := d[strings.ToLower(strings.TrimSpace(cell))]; ok {
		return a, nil
	}
	return store.Assignee{}, fmt.Errorf("assignee %s is not an organizer, admin or steward who may be assigned members", cell)
}
