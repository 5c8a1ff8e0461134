package contact

import (
	"time"

	"github.com/musterhq/muster/shared/apperr"
)

// The union's support scale, as the AFL-CIO's "chart the workplace"
// assessments use it: 1 is the strongest support, 5 open opposition. A
// member nobody has rated yet is unassessed, which is not a level.
const (
	RatingLeader         = 1 // leads and moves others to act
	RatingSupporter      = 2 // supports the union and will act
	RatingUndecided      = 3 // unsure, not yet moved either way
	RatingLeaningAgainst = 4 // leans against, not actively opposed
	RatingOpposed        = 5 // opposed, may work against the union
	MinRating            = RatingLeader
	MaxRating            = RatingOpposed
)

// MaxRatingNote is the longest note a rating may carry.
const MaxRatingNote = 500

// RatingLabel says a level in words: "1 · Leader". An unknown level is
// "Unassessed".
func RatingLabel(level int) string {
	switch level {
	case RatingLeader:
		return "1 · Leader"
	case RatingSupporter:
		return "2 · Supporter"
	case RatingUndecided:
		return "3 · Undecided"
	case RatingLeaningAgainst:
		return "4 · Leaning against"
	case RatingOpposed:
		return "5 · Opposed"
	}
	return "Unassessed"
}

// CheckRating refuses a level outside the scale.
func CheckRating(level int) error {
	if level < MinRating || level > MaxRating {
		return apperr.Invalid("rating", "want a support level from 1 (leader) to 5 (opposed), got %d", level)
	}
	return nil
}

// Rating is one assessment of a member's support.
type Rating struct {
	ContactID string    `json:"contact_id,omitempty"`
	Rating    int       `json:"rating"`
	Label     string    `json:"label"`
	RatedBy   string    `json:"rated_by"`
	Note      string    `json:"note,omitempty"`
	RatedAt   time.Time `json:"rated_at"`
}
