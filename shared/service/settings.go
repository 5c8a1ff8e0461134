package service

import (
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Setting is one environment variable a config struct reads, and the
// field that holds it: what Settings lists for a documentation check and
// Overlay sets.
type Setting struct {
	// Key is the whole variable name, prefix included: DELIVERY_CAP_PER_DAY.
	Key string
	// Value is the field in the struct Settings was given (settable when
	// that was a pointer): its current value is the setting's default when
	// the struct came from a DefaultConfig.
	Value reflect.Value
}

// Settings lists the variables cfg (a struct or a pointer to one) reads
// under prefix, in field order, walking nested and embedded structs the
// way caarlos0/env does (an untagged struct field is read with its
// envPrefix tag added to the prefix).
func Settings(prefix string, cfg any) ([]Setting, error) {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("settings of %T: want a struct", cfg)
	}
	var out []Setting
	if err := walkSettings(prefix, v, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func walkSettings(prefix string, v reflect.Value, out *[]Setting) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name != "" {
			*out = append(*out, Setting{Key: prefix + name, Value: v.Field(i)})
			continue
		}
		switch {
		case f.Type.Kind() == reflect.Struct:
			if err := walkSettings(prefix+f.Tag.Get("envPrefix"), v.Field(i), out); err != nil {
				return err
			}
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
			// env would allocate it; nothing here does yet, so say so
			// rather than list fewer settings than are read.
			return fmt.Errorf("settings of %s: pointer to struct field %s is not supported", t, f.Name)
		}
	}
	return nil
}

// Overlay sets the fields of cfg (a pointer to a struct) whose variables,
// under prefix, environ holds with a value, and leaves every other field
// as it was: the dev stack's defaults stay where the environment says
// nothing. It returns the variables it set. (env's own
// SetDefaultsForZeroValuesOnly would not do: it also ignores a variable
// that is set whenever the field already holds a value.)
func Overlay(prefix string, cfg any, environ map[string]string) ([]string, error) {
	dst := reflect.ValueOf(cfg)
	if dst.Kind() != reflect.Pointer || dst.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("overlaying %T: want a pointer to a struct", cfg)
	}
	// Parse into a copy, where env also puts every default back, then
	// take from it only the fields the environment set.
	scratch := reflect.New(dst.Elem().Type())
	scratch.Elem().Set(dst.Elem())
	if err := env.ParseWithOptions(scratch.Interface(), env.Options{Prefix: prefix, Environment: environ}); err != nil {
		return nil, fmt.Errorf("reading %s* configuration: %w", prefix, err)
	}
	to, err := Settings(prefix, cfg)
	if err != nil {
		return nil, err
	}
	from, err := Settings(prefix, scratch.Interface())
	if err != nil {
		return nil, err
	}
	var set []string
	for i, s := range to {
		if environ[s.Key] == "" {
			continue
		}
		s.Value.Set(from[i].Value)
		set = append(set, s.Key)
	}
	return set, nil
}

// Environ is the process's environment as Overlay reads it.
func Environ() map[string]string { return env.ToMap(os.Environ()) }
