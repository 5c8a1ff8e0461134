// Package logging builds the zap loggers services inject into their parts,
// and the redaction helpers that keep members' phone numbers and emails out
// of logs.
package logging

import (
	"fmt"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a JSON logger for production or a readable console logger for
// development, at the given level ("debug", "info", "warn", "error").
func New(service string, dev bool, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("parsing log level %q: %w", level, err)
	}
	var cfg zap.Config
	if dev {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "ts"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	log, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("building logger: %w", err)
	}
	return log.Named(service), nil
}

// Phone keeps the last two digits of a phone number: enough to tell two
// log lines apart, not enough to text anyone.
func Phone(key, phone string) zap.Field {
	return zap.String(key, RedactPhone(phone))
}

// RedactPhone masks all but the last two digits.
func RedactPhone(phone string) string {
	if len(phone) <= 2 {
		return strings.Repeat("*", len(phone))
	}
	return strings.Repeat("*", len(phone)-2) + phone[len(phone)-2:]
}

// Email keeps the first letter and the domain.
func Email(key, email string) zap.Field {
	return zap.String(key, RedactEmail(email))
}

// RedactEmail masks the local part of an address but its first letter.
func RedactEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return "***"
	}
	return email[:1] + "***" + email[at:]
}

// Address redacts a phone number or an email, whichever it looks like.
func Address(key, addr string) zap.Field {
	if strings.Contains(addr, "@") {
		return Email(key, addr)
	}
	return Phone(key, addr)
}
