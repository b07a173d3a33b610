package config

import "log/slog"

// logTOML is [log].
type logTOML struct {
	Format      string   `toml:"format"`       // default "text"; or "json"
	Level       string   `toml:"level"`        // default "info"; debug | info | warn | error
	Queries     bool     `toml:"queries"`      // default false: one line per query when true
	QuerySample *float64 `toml:"query_sample"` // default 1: fraction of queries logged when queries = true
}

// Log is [log], checked.
type Log struct {
	JSON        bool // format = "json"; else text
	Level       slog.Level
	Queries     bool
	QuerySample float64 // 0-1
}

func (t *logTOML) build(v *validator) Log {
	l := Log{QuerySample: 1}
	switch t.Format {
	case "", "text":
	case "json":
		l.JSON = true
	default:
		v.errorf("log.format", "%q: use \"text\" or \"json\"", t.Format)
	}
	switch t.Level {
	case "", "info":
	case "debug":
		l.Level = slog.LevelDebug
	case "warn":
		l.Level = slog.LevelWarn
	case "error":
		l.Level = slog.LevelError
	default:
		v.errorf("log.level", "%q: use debug, info, warn or error", t.Level)
	}
	l.Queries = t.Queries
	if q := t.QuerySample; q != nil {
		if *q < 0 || *q > 1 {
			v.errorf("log.query_sample", "%v: use a fraction between 0 and 1, e.g. 0.01", *q)
		} else {
			l.QuerySample = *q
		}
	}
	return l
}
