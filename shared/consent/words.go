package consent

import "strings"

// The keyword families, as canonical tokens (lower case, accents folded;
// see normalize). Each whole-message keyword is in exactly one family.
var (
	// optOutWords are the listed revocation words (FCC 24-18, CTIA) and
	// their Spanish equivalents (CTIA, Twilio's Spanish opt-out words).
	optOutWords = map[string]string{
		"stop": English, "stopall": English, "unsubscribe": English, "cancel": English,
		"end": English, "quit": English, "revoke": English, "optout": English,
		"alto": Spanish, "parar": Spanish, "pare": Spanish, "baja": Spanish, "cancelar": Spanish,
		"desuscribir": Spanish, "desuscribirme": Spanish,
	}
	// plainOptOut are not listed keywords but say "stop" as plainly when
	// they stand alone or with a few polite words: "remove", "delete me",
	// "unsub", "🛑", "basta ya".
	plainOptOut = map[string]string{
		"remove": English, "delete": English, "unsub": English, "unsuscribe": English, "block": English,
		"stop2quit": English, "stop2end": English, "stopnow": English,
		"basta": Spanish, "detener": Spanish, "salir": Spanish, "detengan": Spanish,
	}
	optInWords = map[string]string{"start": English, "unstop": English, "iniciar": Spanish, "alta": Spanish}
	helpWords  = map[string]string{"help": English, "info": English, "ayuda": Spanish, "informacion": Spanish}
	yesWords   = map[string]string{"yes": English, "si": Spanish}
	// DefaultJoin are the text-to-join keywords when the organization has
	// not chosen its own.
	DefaultJoin = []string{"JOIN", "UNETE"}
	// spanishJoin are join words a Spanish speaker would choose, so the
	// welcome goes out in Spanish.
	spanishJoin = setOf("unete", "unirme", "unirse", "sindicato", "afiliarme", "inscribirme", "suscribirme")

	rhythmWords = map[string]struct {
		meaning Meaning
		lang    string
	}{
		"nights": {Nights, English}, "noches": {Nights, Spanish},
		"days": {Days, English}, "dias": {Days, Spanish},
		"pause": {Pause, English}, "pausa": {Pause, Spanish},
		"resume": {Resume, English}, "reanudar": {Resume, Spanish},
		"less": {Less, English}, "menos": {Less, Spanish},
		"more": {More, English}, "mas": {More, Spanish},
		"prefs": {Prefs, English}, "preferencias": {Prefs, Spanish},
	}

	// filler are the polite, emphatic and empty words that may surround a
	// keyword without changing what it asks: "stop please", "STOP NOW",
	// "pls stop it", "alto por favor", "ya basta".
	filler = setOf(
		"please", "pls", "plz", "plez", "plse", "pleas", "pleae", "now", "it", "this", "that", "these",
		"thanks", "thank", "you", "thx", "ty", "tx", "asap", "already", "just", "immediately", "right",
		"all", "the", "texts", "text", "txt", "txts", "texting", "messages", "message", "messaging",
		"msgs", "msg", "sms", "ok", "okay", "k", "omg", "seriously", "god", "damn", "dammit", "goddamn",
		"fucking", "fuckin", "fuck", "freaking", "frickin", "hell", "lol", "ugh", "man", "dude", "no",
		"nope", "again", "me", "sorry", "yes", "yeah", "hi", "hello", "hey", "sir", "maam", "thankyou",
		"now", "forever", "permanently", "for", "good", "bye", "goodbye", "oh", "and", "i", "said",
		"por", "favor", "porfa", "porfavor", "ya", "gracias", "ahora", "mismo", "ahorita", "mas",
		"de", "los", "mensajes", "mensaje", "textos", "hola", "senor", "senora", "oiga", "y", "dije",
	)

	// stopGlyphs read as the word "stop": the stop sign and the no-entry
	// signs members send instead of typing.
	stopGlyphs = setOf("\U0001F6D1", "\u26D4", "\U0001F6AB")

	// realWords are ordinary words a misspelled keyword must not be taken
	// for ("step" is not "stop").
	realWords = setOf("step", "shop", "top", "atop", "slop", "stow", "stoop", "sop", "stoa", "stomp",
		"strop", "stoy", "soto", "stay", "cancer", "canal", "candle", "optou",
		"quite", "quiet", "quilt", "quip", "quiz", "quid", "suit", "unit", "quin", "subscribe", "subscribed")
)

// fuzzy are the keywords a misspelling is read as, with the edit distance
// allowed: short words get one slip, long ones two.
var fuzzy = []struct {
	word   string
	dist   int
	minLen int
}{
	{"stop", 1, 3}, {"unsubscribe", 2, 8}, {"cancel", 1, 5}, {"cancelar", 1, 7},
	{"optout", 1, 5}, {"desuscribir", 2, 9}, {"desuscribirme", 2, 11}, {"quit", 1, 4},
}

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// Reserved reports whether a one-word campaign keyword (a petition's SIGN,
// a call's CALLED) would collide with a word members use for consent,
// help, joining or their own rhythm, in English or Spanish, misspelled or
// not. joinWords are the organization's text-to-join keywords (nil for
// DefaultJoin).
func Reserved(word string, joinWords []string) bool {
	toks := tokens(word)
	if len(toks) != 1 || len(toks[0]) != 1 {
		return false
	}
	w := toks[0][0]
	if _, ok := optOutWords[w]; ok {
		return true
	}
	for _, m := range []map[string]string{plainOptOut, optInWords, helpWords, yesWords} {
		if _, ok := m[w]; ok {
			return true
		}
	}
	if _, ok := rhythmWords[w]; ok {
		return true
	}
	if joinWords == nil {
		joinWords = DefaultJoin
	}
	for _, j := range joinWords {
		if fold(strings.ToLower(strings.TrimSpace(j))) == w {
			return true
		}
	}
	return false
}
