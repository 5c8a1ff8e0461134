package events

// IsID reports whether s is an id as Muster writes them (a message's, a
// campaign's): a UUID in its canonical lower-case text form. Ids that come
// back from outside (a webhook's custom_args, a reply address) are checked
// with it before they reach a query.
func IsID(s string) bool { return isUUID(s, false) }

// IsUUID is IsID that also takes upper-case hex digits, as PostgreSQL's
// uuid type does: for ids a person or a client may have typed, so a
// malformed one is "not found" or a 400 rather than the database's cast
// error.
func IsUUID(s string) bool { return isUUID(s, true) }

func isUUID(s string, upper bool) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case upper && c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}
