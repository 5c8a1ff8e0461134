package consent

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Reader reads members' texts with the organization's own join keywords.
// The zero Reader uses DefaultJoin.
type Reader struct {
	join map[string]bool
}

// NewReader returns a reader for the organization's text-to-join
// keywords (nil or empty for DefaultJoin).
func NewReader(joinWords []string) Reader {
	if len(joinWords) == 0 {
		joinWords = DefaultJoin
	}
	r := Reader{join: make(map[string]bool, len(joinWords))}
	for _, w := range joinWords {
		if t := tokens(w); len(t) == 1 && len(t[0]) == 1 {
			r.join[t[0][0]] = true
		}
	}
	return r
}

// Read reads a text with the default join keywords.
func Read(text string) Reading { return NewReader(nil).Read(text) }

// Pause's bounds: PAUSE alone is 30 days; a member may choose 1 to 90.
const (
	DefaultPauseDays = 30
	MaxPauseDays     = 90
)

// Read says what a member's text asks for. In order:
//
//  1. the whole text is one keyword, perhaps with its argument ("STOP",
//     "Help!", "PAUSE 7", "ALTO"): that keyword;
//  2. a clause of the text is an opt-out word with only polite or
//     emphatic words around it ("stop please", "who is this? STOP",
//     "🛑", "pls stpo"): an opt-out;
//  3. a plain phrasing of "stop texting me" ("remove me from your list",
//     "wrong number", "ya no me manden mensajes"): an opt-out;
//  4. an opt-out word used in a way that is neither of the above nor
//     plainly about something else ("I said stop the texts, who gave you
//     my number"): Review;
//  5. anything else, including the opt-out words used as ordinary words
//     ("don't stop fighting", "the bus stop", "end mandatory overtime"):
//     an ordinary reply.
func (r Reader) Read(text string) Reading {
	clauses := tokens(text)
	var all []string
	for _, c := range clauses {
		all = append(all, c...)
	}
	lang := guessLang(all)
	if len(all) == 0 {
		return Reading{Lang: lang}
	}
	if rd, ok := r.keyword(text, all, lang); ok {
		return rd
	}
	for _, c := range clauses {
		if word, ok := fillerOptOut(c); ok {
			return Reading{Meaning: OptOut, Reason: strings.ToUpper(word) + " with other words", Lang: langOf(word, lang)}
		}
	}
	if spelled := strings.Join(all, ""); len(all) > 1 && len(spelled) <= 12 {
		// "s t o p", "sto p": a keyword typed with stray spaces.
		if _, ok := optOutWords[correct(spelled)]; ok {
			return Reading{Meaning: OptOut, Reason: strings.ToUpper(correct(spelled)) + " spelled out", Lang: langOf(correct(spelled), lang)}
		}
	}
	var doubt *pattern
	for _, c := range clauses {
		text := " " + strings.Join(c, " ") + " "
		for i := range phrases {
			p := &phrases[i]
			loc := p.re.FindStringIndex(text)
			if loc == nil || negated(strings.Fields(text[:loc[0]])) {
				continue
			}
			if p.tail && !plainTail(strings.Fields(text[loc[1]:])) {
				doubt = p
				continue
			}
			return Reading{Meaning: OptOut, Reason: p.reason, Lang: p.lang}
		}
		for _, p := range clausePhrases {
			if p.re.MatchString(strings.Join(c, " ")) {
				return Reading{Meaning: OptOut, Reason: p.reason, Lang: p.lang}
			}
		}
	}
	if doubt != nil {
		return Reading{Meaning: Review, Reason: doubt.reason + ", with more words", Lang: lang}
	}
	flat := " " + strings.Join(all, " ") + " "
	if word, ok := doubtful(all); ok {
		return Reading{Meaning: Review, Reason: "uses " + strings.ToUpper(word) + " in a longer message", Lang: lang}
	}
	for _, p := range doubts {
		if p.re.MatchString(flat) {
			return Reading{Meaning: Review, Reason: p.reason, Lang: lang}
		}
	}
	return Reading{Lang: lang}
}

// keyword reads a whole text that is a single keyword: the families, a
// keyword with only polite words ("help please"), and PAUSE with its
// argument.
func (r Reader) keyword(text string, all []string, lang string) (Reading, bool) {
	if m := pauseRe.FindStringSubmatch(fold(strings.ToLower(text))); m != nil {
		return pause(m[1], m[2]), true
	}
	if rw, ok := rhythmWords[all[0]]; ok && len(all) == 1 {
		// Rhythm keywords are exact: "more" or "less" inside a sentence
		// are ordinary words.
		return Reading{Meaning: rw.meaning, Reason: strings.ToUpper(all[0]), Lang: rw.lang}, true
	}
	words := strip(all)
	if len(words) == 0 {
		return Reading{}, false
	}
	first := words[0]
	if len(words) != 1 {
		return Reading{}, false
	}
	for _, fam := range []struct {
		words   map[string]string
		meaning Meaning
	}{{optOutWords, OptOut}, {optInWords, OptIn}, {helpWords, Help}, {yesWords, Yes}} {
		if l, ok := fam.words[first]; ok {
			if l == Spanish {
				lang = Spanish
			}
			return Reading{Meaning: fam.meaning, Reason: strings.ToUpper(first), Lang: lang}, true
		}
	}
	if r.joins(first) {
		if spanishJoin[first] {
			lang = Spanish
		}
		return Reading{Meaning: Join, Reason: strings.ToUpper(first), Lang: lang}, true
	}
	return Reading{}, false
}

func (r Reader) joins(word string) bool {
	if r.join == nil {
		for _, j := range DefaultJoin {
			if strings.EqualFold(j, word) {
				return true
			}
		}
		return false
	}
	return r.join[word]
}

// pauseRe is PAUSE or PAUSA alone or with one argument, perhaps followed
// by "days": "PAUSE", "pause 7", "PAUSA 7 días", "PAUSE -1", "PAUSE abc".
var pauseRe = regexp.MustCompile(`^\s*(pause|pausa)(?:\s+([^\s]+?))?(?:\s+(?:days?|dias?))?\s*[.!]*\s*$`)

// pause reads PAUSE's argument. An argument it cannot use is a Problem,
// never a guess.
func pause(word, arg string) Reading {
	lang := rhythmWords[word].lang
	rd := Reading{Meaning: Pause, Reason: strings.ToUpper(word), Lang: lang, Days: DefaultPauseDays}
	if arg == "" {
		return rd
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || n > MaxPauseDays || strings.HasPrefix(arg, "+") {
		rd.Days = 0
		rd.Problem = fmt.Sprintf("PAUSE takes a number of days from 1 to %d, for example PAUSE 7", MaxPauseDays)
		if lang == Spanish {
			rd.Problem = fmt.Sprintf("PAUSA lleva un número de días de 1 a %d, por ejemplo PAUSA 7", MaxPauseDays)
		}
		return rd
	}
	rd.Days = n
	return rd
}

// strip drops the polite words around a keyword ("help please" is HELP)
// and repeats ("stop stop stop").
func strip(all []string) []string {
	var out []string
	for _, w := range all {
		if filler[w] && !isKeyword(w) {
			continue
		}
		if len(out) > 0 && out[len(out)-1] == w {
			continue
		}
		out = append(out, w)
	}
	return out
}

func isKeyword(w string) bool {
	_, a := optOutWords[w]
	_, b := optInWords[w]
	_, c := helpWords[w]
	_, d := yesWords[w]
	return a || b || c || d
}

// fillerOptOut reports whether a clause is an opt-out word with only
// polite or emphatic words around it, and which word.
func fillerOptOut(clause []string) (string, bool) {
	word := ""
	for _, w := range clause {
		_, listed := optOutWords[w]
		_, plain := plainOptOut[w]
		switch {
		case listed || plain:
			if word == "" {
				word = w
			}
		case filler[w]:
		default:
			return "", false
		}
	}
	return word, word != ""
}

func langOf(word, fallback string) string {
	if l, ok := optOutWords[word]; ok && l == Spanish {
		return Spanish
	}
	if l, ok := plainOptOut[word]; ok && l == Spanish {
		return Spanish
	}
	return fallback
}

// doubtful finds an opt-out word used in a way that is not plainly about
// something else: "stop" not preceded by a negation or a place ("don't
// stop", "bus stop") nor followed by an object ("stop the cuts", "stop by
// the hall"), and the like for the other words.
func doubtful(all []string) (string, bool) {
	for i, w := range all {
		prev, next := "", ""
		if i > 0 {
			prev = all[i-1]
		}
		if i+1 < len(all) {
			next = all[i+1]
		}
		switch w {
		case "unsubscribe", "unsub", "optout", "revoke", "desuscribir", "desuscribirme":
			if !negations[prev] {
				return w, true
			}
		case "stop", "quit", "cancel", "end", "parar", "pare", "cancelar":
			if negations[prev] || places[prev] {
				continue
			}
			if next == "" || filler[next] && !objects[next] {
				return w, true
			}
		}
	}
	return "", false
}

var (
	negations = setOf("dont", "do", "not", "never", "wont", "cant", "cannot", "wouldnt", "shouldnt",
		"wouldn", "didnt", "doesnt", "no", "nunca", "sin")
	// places are the words that make "stop" or "end" a thing: "the bus
	// stop", "at the end", "weekend".
	places = setOf("bus", "the", "a", "an", "rest", "pit", "truck", "next", "last", "first", "one", "full",
		"non", "that", "this", "my", "your", "our", "their", "his", "her", "its", "back", "deep",
		"dead", "tail", "low", "high", "top", "front", "far", "other", "loose", "west", "east", "north",
		"south", "la", "el", "una", "un", "mi", "su")
	// objects are filler words that, after a keyword, start an object
	// rather than end the request: "stop the cuts", "end this strike".
	objects = setOf("the", "this", "that", "these", "all", "los", "de", "mas", "for", "and", "i", "y", "it", "me", "now")
)

type pattern struct {
	re     *regexp.Regexp
	reason string
	lang   string
	// tail: the request is plain only when what follows it in its clause
	// is empty, polite, about the texts or the list ("remove me from your
	// list"); a qualifier or another object ("don't text me during group",
	// "remove me from the Saturday schedule") makes it a doubt.
	tail bool
}

// en and es compile a phrasing; a trailing \b also matches before the
// clause's closing space, so "wrong #" ends a word.
func en(expr, reason string) pattern {
	return pattern{re: regexp.MustCompile(expr), reason: reason, lang: English}
}

func es(expr, reason string) pattern {
	return pattern{re: regexp.MustCompile(expr), reason: reason, lang: Spanish}
}

func withTail(p pattern) pattern {
	p.tail = true
	return p
}

// negated reports whether the words before a phrasing deny it: "don't
// remove me", "never unsubscribe me".
func negated(before []string) bool {
	for i := len(before) - 1; i >= 0 && i >= len(before)-2; i-- {
		if negations[before[i]] && before[i] != "no" {
			return true
		}
	}
	return false
}

// plainTail reports whether the words after a request leave it plain:
// nothing, polite or emphatic words, or where from ("from your list").
func plainTail(tail []string) bool {
	for len(tail) > 0 && skippable[tail[0]] {
		tail = tail[1:]
	}
	if len(tail) == 0 {
		return true
	}
	first := tail[0]
	switch {
	case fromWords[first] || modifiers[first] && !listWords[first]:
		// "off", "from your list", "off this texting list": only
		// determiners and the texting list's own names before the list.
		// "from the overtime list" is another list.
		if fromWords[first] {
			tail = tail[1:]
		}
		for _, w := range tail {
			switch {
			case listWords[w]:
				return true
			case !modifiers[w]:
				return false
			}
		}
		return true
	case qualifiers[first]:
		return false
	case filler[first] || listWords[first] || closers[first]:
		return true
	}
	return false
}

var (
	skippable = setOf("mas", "more", "any", "anymore", "these", "your", "ya", "ever", "again", "please", "pls", "plz")
	fromWords = setOf("from", "off", "of", "out", "del", "de")
	listWords = setOf("list", "lists", "texts", "text", "txts", "messages", "msgs", "alerts", "system", "database",
		"texting", "mailing", "contacts", "contact", "this", "these", "it", "that", "union", "everything", "all", "here", "them", "those",
		"lista", "listas", "mensajes", "textos", "grupo", "sistema", "todo", "aqui", "esto", "sus", "su")
	modifiers = setOf("the", "your", "ur", "this", "these", "that", "our", "my", "texting", "text", "mailing", "contact",
		"sms", "email", "union", "all", "of", "la", "su", "sus", "esta", "estas", "tu", "el", "los", "las", "de", "mensajes")
	qualifiers = setOf("during", "at", "before", "after", "until", "till", "til", "on", "while", "when", "between",
		"in", "about", "tonight", "today", "tomorrow", "every", "so", "too", "durante", "antes", "despues", "hasta",
		"cuando", "mientras", "en", "a", "por", "sobre", "con")
	closers = setOf("back", "anymore", "nada", "eso", "ever", "forever", "again", "thanks", "period", "bye",
		"goodbye", "idiot", "asshole", "jerk", "people", "guys", "y'all", "yall", "or", "nunca", "jamas")
)

// Plain phrasings of "stop texting me", matched on the whole normalized
// text (lower case, accents folded, apostrophes dropped, punctuation as
// spaces, misspelled keywords corrected).
var phrases = []pattern{
	withTail(en(` (stop|quit|cease) (texting|txting|texing|messaging|msging|contacting|sending|emailing|calling|bugging|spamming|harassing|bothering|hitting me up)( me| us| this number| my number| my phone)?\b`, "asked to stop texting")),
	en(` (stop|quit|cease|end) (the |these |this |your |all (the |these |your |of (the |these |your ))?|all |any (more )?|ur )?(texts?|txts?|msgs?|messages?|text messages|spam|alerts|emails|notifications|sms|robo ?texts)\b`, "asked to stop the texts"),
	withTail(en(` (remove|delete|erase|unlist|drop) (me|my (phone |cell |mobile |contact )?(number|name|info|information|contact|phone|cell|email|details|data|#)|this (number|phone|#))\b`, "asked to be removed")),
	en(` optout (of|from) (the |these |your |this |all |ur )*(texts?|messages|alerts|list|this|these|sms)\b`, "asked to opt out of the texts"),
	withTail(en(` (take|get|scratch|cross|drop|strike) (me|my (number|name|info|contact|phone|cell|email)|this number) (off|out)\b`, "asked to be taken off the list")),
	withTail(en(` ((unsubscribe|unsub|optout) (me|this number|my number)|opt me out|sign me (out|off))\b`, "asked to unsubscribe")),
	withTail(en(` i (optout|unsubscribe)\b`, "asked to unsubscribe")),
	withTail(en(` (dont|do not|never|no more|plz dont|please dont|pls dont)( ever)? (text|txt|contact|message|msg|email|call|bother|spam|sms|send)(ing)?( me| this number| my number| us)?( any| any further| further| more| these| any more| anything| me)*( texts?| messages?| msgs| sms| alerts)?\b`, "asked not to be contacted")),
	en(` (cease and desist|discontinue|cease|halt)\b`, "asked to stop the texts"),
	en(` (texts?|text messages|messages|msgs|alerts|txts) (to stop|to end|stop)\b`, "asked for the texts to stop"),
	en(` (dont|do not|no longer) (want|wish|care|like) to (receive|get|keep getting|be getting) (these|this|them|those|any|texts|messages)\b`, "said they do not want the texts"),
	en(` (no longer|do not|dont|not|never) (consent|agree|authorize)\b`, "revoked consent"),
	en(` (revok|revoking|revoke|withdraw|withdrawing|retract|retracting|rescind|rescinding)( my| all| any)? (consent|permission|authorization)\b`, "revoked consent"),
	en(` (dont|do not|no longer|didnt|did not|never) (want|need|wish|care|like|asked for)( to (get|receive|be getting|keep getting))?( any| these| your| this| the| more| any more| anymore| such| those| ur| all| of| ya)* (texts?|txts?|text messages|messages?|msgs?|alerts|emails|spam|sms)\b`, "said they do not want the texts"),
	en(` no more (\w+ )?(texts?|txts?|messages?|msgs?|alerts|emails|spam|sms)\b`, "asked for no more texts"),
	en(` not (the right|the correct|your) (person|number)\b`, "said it is the wrong number"),
	en(` (lose|forget|delete|erase) (my|this) (number|#)\b`, "asked to lose their number"),
	en(` (i )?(never|didnt|did not) (sign(ed)? up|subscribe(d)?|opt(ed)? in|signed up for this|agree(d)? to)\b`, "said they never signed up"),
	en(` (how (do|can) i|how to|want to|wanna|wish to|would like to|like to|need to|trying to|let me|i want|i wish|i would like|please let me)( be)? (unsubscribe|unsub|optout|opt out|stop (getting|receiving)|removed|taken off|be removed|get off)\b`, "asked to unsubscribe"),
	en(` (off|out of) (your|this|the) (list|mailing list|texting list|contact list|system|database)\b`, "asked to be taken off the list"),

	en(` revoke (my )?(consent|permission)\b`, "revoked consent"),
	en(` (withdraw|revoke|cancel|end) (my )?(consent|permission|subscription)\b`, "revoked consent"),
	en(` (already )?(unsubscribed|opted out) (already|before|twice)?\b`, "said they already opted out"),

	withTail(es(` no (me )?(manden|mandes|mande|envien|envies|envie|escriban|escribas|escriba|contacten|contactes|contacte|llamen|molesten|molestes|texteen|textees)\b`, "pidió que no le escriban más")),
	withTail(es(` ya no (me )?(manden|envien|escriban|mande|envie|escriba|contacten)\b`, "pidió que no le escriban más")),
	es(` ya no (quiero|deseo) (recibir|mensajes|textos|nada)\b`, "dijo que no quiere mensajes"),
	es(` (no autorizo|no doy (mi )?(consentimiento|permiso)|(retiro|revoco|revocar|retirar|cancelo)( mi)? (consentimiento|autorizacion|permiso))\b`, "retiró su consentimiento"),
	es(` (paren|pare|para|parar|detengan|detener|detenga|corten|cancelen|cancele|cancelar|anulen)( los| estos| sus| tus| todos los| mi| la)? (mensajes|textos|msjs|mensajitos|sms|alertas|suscripcion|subscripcion|inscripcion)\b`, "pidió que paren los mensajes"),
	es(` (salirme|salir|sacarme|quitarme|borrarme|eliminarme) de (la|su|esta|sus|tu|el) (lista|listas|grupo|sistema)\b`, "pidió que lo quiten de la lista"),
	es(` no (quiero|deseo|necesito) (recibir |seguir recibiendo |mas |ningun |ningunos |sus |estos |tus |los )*(mensajes|textos|msjs|mensajitos|sms|correos|alertas|mensaje|texto)\b`, "dijo que no quiere mensajes"),
	es(` (darme|dame|denme|dar|den|darse|dese|doy|me doy|quiero darme|me quiero dar|dar de) de baja\b`, "pidió darse de baja"),
	es(` (darme|dame|denme) de baja\b`, "pidió darse de baja"),
	withTail(es(` (borren|eliminen|quiten|saquen|remuevan|borre|elimine|quite|saque|borrar|eliminar|quitar|sacar|remover|borra|elimina|quita|saca)(me|nos)\b`, "pidió que lo quiten de la lista")),
	es(` (me )?(borren|eliminen|quiten|saquen|remuevan|borre|elimine|quite|saque|borra|quita|saca) (de|del) (la |su |esta |sus |tu )?(lista|listas|sistema|grupo|base)\b`, "pidió que lo quiten de la lista"),
	es(` (borren|eliminen|quiten|borrar|eliminar|quitar|borre|elimine) (mi|este) (numero|nombre|contacto|telefono|celular|correo)\b`, "pidió que borren su número"),
	es(` (se )?equivoc(o|aron|an) de (numero|persona)( conmigo)?$`, "dijo que es un número equivocado"),
	es(` no mas (mensajes|textos|msjs|sms|correos|alertas)\b`, "pidió no más mensajes"),
	es(` (dejen|deja|deje|paren|para|pare) de (mandar|enviar|escribir|molestar|textear|contactar|llamar)(me|nos)?\b`, "pidió que dejen de escribirle"),
	es(` (desuscribirme|desuscribanme|desuscribeme|desinscribirme|desuscribir|anularme|cancelar mi (suscripcion|subscripcion|inscripcion))\b`, "pidió darse de baja"),
	es(` (sacar|quitar|borrar)(me)? de (la|su|esta) lista\b`, "pidió que lo quiten de la lista"),
	es(` nunca me (inscribi|suscribi|registre|apunte)\b`, "dijo que nunca se inscribió"),
}

// clausePhrases are opt-outs only when they are a whole clause: "no más",
// "not interested" or "spam" said on their own, not inside a sentence
// ("not interested in overtime").
var clausePhrases = []pattern{
	es(`^(ya )?(no mas|basta|basta ya|ya basta|ya estuvo|no gracias no mas)( por favor| porfa| gracias)*$`, "pidió no más mensajes"),
	es(`^(no )?(me )?(interesa|estoy interesad[oa]|estamos interesad[oa]s)( no)?( gracias)*$`, "dijo que no le interesa"),
	en(`^(no )?(thanks |thank you )?(im |i am |i m |we are |were )?(not|no longer) interested( thanks| thank you| sorry| at all| anymore)*$`, "said they are not interested"),
	en(`^(this is )?(spam|spammer|scam)( spam)*$`, "called it spam"),
	en(`^(reply |text )?stop ?(2|to|=)? ?(quit|end|optout|unsubscribe|cancel|opt out)$`, "repeated the opt-out instruction"),
	en(`^(i think |i believe |hi |hello |hey |um |uh |sorry )*(this is |you have |you got |u have |u got |youve got |you've got |sorry |sorry you have |sorry wrong |)(the |a )?wrong (number|person|phone|num|no|#|guy|girl|lady)( sorry| bye| buddy| pal| dude| lol| please| pls| stop)*$`, "said it is the wrong number"),
	es(`^(es |tiene |tienes |tienen |este es |es un |este es un |se equivoco de |lo siento )?(el |un )?(numero|telefono|persona) (equivocad[oa]|incorrect[oa]|errone[oa])( lo siento| perdon| gracias| adios)*$`, "dijo que es un número equivocado"),
	en(`^(please |pls |plz |just |now |ok |)*(go away|fuck off|piss off|get lost|buzz off|bugger off|shut up and stop|leave me (the (hell|fuck) )?(alone|be))( please| now| already| forever| thanks)*$`, "asked to be left alone"),
	es(`^(ya |por favor |porfa )*(dejenme|dejame|dejeme|dejenos) (en paz|tranquil[oa]s?)( por favor| porfa| ya| gracias)*$`, "pidió que lo dejen en paz"),
	en(`^(stop|quit|enough)( it| this| these| now)+( please| pls| plz)*$`, "asked to stop"),
	en(`^(enough|enough already|too many texts|too many messages)( please)*$`, "asked for no more texts"),
}

// doubts are phrasings that often precede an opt-out without being one:
// an organizer decides.
var doubts = []pattern{
	en(` (how did you get|where did you get|why do you have) (my|this) (number|#|info)\b`, "asked how we got their number"),
	en(` (keep|keeps|always) (texting|messaging|sending) me\b`, "complained about the texts"),
	en(` too many (texts|messages|msgs)\b`, "complained about the texts"),
	en(` (i )?(left|quit|am not in|not in|no longer in|not part of|not a member of) (the )?union\b`, "said they are not in the union"),
	en(` (no longer|dont|do not|not) (work|working) (there|here|at)\b`, "said they no longer work there"),
	es(` (como|de donde) (consiguieron|obtuvieron|sacaron|tienen) (mi|este) numero\b`, "preguntó cómo obtuvieron su número"),
	es(` (ya no trabajo|no trabajo) (ahi|alli|ahí|allí|en)\b`, "dijo que ya no trabaja allí"),
	es(` demasiados mensajes\b`, "se quejó de los mensajes"),
}

// guessLang says "es" when a text has more Spanish marker words than
// English ones, so a reply goes out in the member's language.
func guessLang(all []string) string {
	score := 0
	for _, w := range all {
		switch {
		case spanishMarks[w]:
			score++
		case englishMarks[w]:
			score--
		}
		if l, ok := optOutWords[w]; ok && l == Spanish {
			score++
		}
	}
	if score > 0 {
		return Spanish
	}
	return English
}

var (
	spanishMarks = setOf("por", "favor", "porfa", "gracias", "mensajes", "quiero", "numero", "ya", "mas",
		"de", "la", "el", "que", "mi", "los", "las", "me", "manden", "envien", "escriban", "ayuda", "baja",
		"no", "lista", "hola", "usted", "esta", "este", "soy", "es", "una", "con", "para", "pero", "si",
		"y", "en", "se", "lo", "del", "al", "muy", "mucho", "tengo", "puedo", "hay", "reunion", "trabajo")
	englishMarks = setOf("please", "the", "my", "me", "i", "you", "is", "this", "to", "and", "of", "a", "it",
		"stop", "text", "texts", "want", "dont", "number", "from", "list", "thanks", "what", "can", "will",
		"be", "we", "are", "on", "for", "in", "meeting", "work", "shift", "help")
)

// tokens splits a text into clauses of normalized words: lower case,
// accents folded, apostrophes dropped ("don't" is "dont"), "opt out" and
// "opt-out" as "optout", the stop sign as "stop", a misspelled keyword
// as the keyword. Clauses end at sentence punctuation.
func tokens(text string) [][]string {
	var clauses [][]string
	var clause []string
	var word strings.Builder
	flushWord := func() {
		if word.Len() == 0 {
			return
		}
		w := fold(word.String())
		word.Reset()
		if n := len(clause); n > 0 && w == "out" && clause[n-1] == "opt" {
			clause[n-1] = "optout"
			return
		}
		clause = append(clause, correct(w))
	}
	flushClause := func() {
		flushWord()
		if len(clause) > 0 {
			clauses = append(clauses, clause)
			clause = nil
		}
	}
	runes := []rune(text)
	for i, r := range runes {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			word.WriteRune(unicode.ToLower(r))
		case r == '\'' || r == '\u2019' || r == '\u2018' || r == '`':
			// Inside a word an apostrophe joins ("don't"); elsewhere it is
			// a quote.
			if word.Len() == 0 || i+1 >= len(runes) || !unicode.IsLetter(runes[i+1]) {
				flushWord()
			}
		case r == '-' && word.Len() > 0 && i+1 < len(runes) && unicode.IsLetter(runes[i+1]):
			// "opt-out", "e-mail": one word.
		case r == '#':
			flushWord()
			clause = append(clause, "#")
		case stopGlyphs[string(r)]:
			flushWord()
			clause = append(clause, "stop")
		case strings.ContainsRune(".!?;,:\u00bf\u00a1\n\r\u2026()[]\"\u201c\u201d", r):
			flushClause()
		default:
			flushWord()
		}
	}
	flushClause()
	return clauses
}

var folds = strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ü", "u", "ñ", "n",
	"à", "a", "è", "e", "ì", "i", "ò", "o", "ù", "u")

func fold(w string) string { return folds.Replace(w) }

// correct reads a misspelled keyword as the keyword ("stpo", "unsubcribe"),
// leaving real words alone ("step").
func correct(w string) string {
	w = squeeze(w)
	if realWords[w] {
		return w
	}
	if w == "unsubscribed" || w == "unsubscribing" {
		return w
	}
	for _, f := range fuzzy {
		if w == f.word {
			return w
		}
	}
	for _, f := range fuzzy {
		if len(w) >= f.minLen && abs(len(w)-len(f.word)) <= f.dist && distance(w, f.word) <= f.dist {
			return f.word
		}
	}
	return w
}

// squeeze shortens a letter held down three times or more to one:
// "stoooop", "altooo".
func squeeze(w string) string {
	r := []rune(w)
	out := r[:0]
	for i := 0; i < len(r); i++ {
		j := i
		for j+1 < len(r) && r[j+1] == r[i] {
			j++
		}
		if j-i >= 2 {
			out = append(out, r[i])
		} else {
			out = append(out, r[i:j+1]...)
		}
		i = j
	}
	return string(out)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// distance is the optimal string alignment distance (Levenshtein with
// adjacent transpositions) between two short words.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
