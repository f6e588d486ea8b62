package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The environment rule: every setting of a plain type (string, bool, number, duration, list
// of strings) can be set with SWITCHBOARD_ followed by its JSON path in upper case, the path's
// parts joined by "_". A struct field tagged env:"" adds no part: the apps, the limits and the
// streams provider, so apps.chat.prefix is SWITCHBOARD_CHAT_PREFIX, limits.max_conns is
// SWITCHBOARD_MAX_CONNS and apps.streams.provider.client_id is SWITCHBOARD_STREAMS_CLIENT_ID.
// Each app's section is named by the app: apps.chat.socketio.max_payload is
// SWITCHBOARD_CHAT_SOCKETIO_MAX_PAYLOAD. Lists are comma-separated, durations Go durations
// ("30s"). Lists of objects (namespaces) are set in the file only.

// EnvVar is one setting the environment can give.
type EnvVar struct {
	Name string // SWITCHBOARD_…
	Path string // the JSON path, "apps.chat.prefix"
	v    reflect.Value
}

var (
	durationType = reflect.TypeFor[Duration]()
	appsType     = reflect.TypeFor[Apps]()
)

// EnvVars lists the settings of cfg the environment can give, in field order.
func EnvVars(cfg *Config) []EnvVar {
	var out []EnvVar
	walkEnv(reflect.ValueOf(cfg).Elem(), nil, nil, &out)
	return out
}

func walkEnv(v reflect.Value, env, path []string, out *[]EnvVar) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			walkEnv(fv, env, path, out) // embedded: its fields are this level's
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || name == "" {
			continue
		}
		p := append(append([]string(nil), path...), name)
		e := env
		if tag, ok := f.Tag.Lookup("env"); !ok || tag != "" {
			e = append(append([]string(nil), env...), strings.ToUpper(name))
		}
		switch {
		case f.Type == durationType, isPlain(f.Type):
			*out = append(*out, EnvVar{Name: EnvPrefix + strings.Join(e, "_"), Path: strings.Join(p, "."), v: fv})
		case f.Type.Kind() == reflect.Struct:
			walkEnv(fv, e, p, out)
		case f.Type == appsType:
			// Each app's section, by name: apps.chat.prefix is CHAT_PREFIX.
			apps := fv.Interface().(Apps)
			for _, name := range apps.names() {
				sec := reflect.ValueOf(apps[name])
				if sec.Kind() != reflect.Pointer || sec.Elem().Kind() != reflect.Struct {
					continue
				}
				walkEnv(sec.Elem(), append(append([]string(nil), e...), strings.ToUpper(name)), append(append([]string(nil), p...), name), out)
			}
		}
	}
}

func isPlain(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// applyEnv sets every setting whose variable is set and not empty.
func applyEnv(cfg *Config, getenv func(string) string) error {
	for _, ev := range EnvVars(cfg) {
		s := getenv(ev.Name)
		if s == "" {
			continue
		}
		if err := setFromString(ev.v, s); err != nil {
			return fmt.Errorf("%s: %w", ev.Name, err)
		}
	}
	return nil
}

func setFromString(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		v.SetFloat(f)
	case reflect.Slice:
		v.Set(reflect.ValueOf(strings.Split(s, ",")))
	}
	return nil
}

// Value is the setting's current value.
func (e EnvVar) Value() any { return e.v.Interface() }
