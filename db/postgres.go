// Package db runs the database lane's changes on PostgreSQL and reads what
// is applied from the database itself (the table gitfleet_changes). Every
// call is bounded: connecting by ConnectTimeout, each call by Timeout.
package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Postgres applies database changes to one PostgreSQL database and records
// them there, in gitfleet_changes: the database is the truth about what is
// applied.
type Postgres struct {
	DSN string
	// Timeout bounds each call: reading what is applied, and applying
	// one change, its connection included (default DefaultTimeout;
	// databases.<name>.timeout in gitfleet.yaml).
	Timeout time.Duration
	// ConnectTimeout bounds connecting (default DefaultConnectTimeout,
	// and never more than Timeout).
	ConnectTimeout time.Duration
}

// Defaults of Postgres' bounds.
const (
	DefaultTimeout        = 10 * time.Minute
	DefaultConnectTimeout = 10 * time.Second
)

// ChangeTimeout is the bound of one change: its SQL here, or its command
// on a server (the database lane's timeout).
func (p *Postgres) ChangeTimeout() time.Duration {
	if p.Timeout <= 0 {
		return DefaultTimeout
	}
	return p.Timeout
}

// bound is ctx bounded by the Timeout.
func (p *Postgres) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	t := p.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return context.WithTimeout(ctx, t)
}

const changesTable = `CREATE TABLE IF NOT EXISTS gitfleet_changes (
	id          text PRIMARY KEY,
	checksum    text NOT NULL,
	revision    text NOT NULL,
	app         text NOT NULL DEFAULT '',
	environment text NOT NULL DEFAULT '',
	applied_at  timestamptz NOT NULL DEFAULT now()
)`

func (p *Postgres) connect(ctx context.Context, create bool) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(p.DSN)
	if err != nil {
		// pgx's message can quote the DSN: never show it.
		return nil, errors.New("database DSN cannot be parsed")
	}
	cfg.ConnectTimeout = p.ConnectTimeout
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if p.Timeout > 0 && cfg.ConnectTimeout > p.Timeout {
		cfg.ConnectTimeout = p.Timeout
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, redactPG(err))
	}
	if !create {
		return c, nil
	}
	if _, err := c.Exec(ctx, changesTable); err != nil {
		c.Close(ctx)
		return nil, fmt.Errorf("create gitfleet_changes: %w", err)
	}
	return c, nil
}

// redactPG keeps a connection error free of the password pgx may quote.
func redactPG(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return errors.Unwrap(ce)
	}
	return err
}

// Applied returns the recorded changes: id → checksum. It writes nothing:
// without gitfleet_changes, nothing is applied.
func (p *Postgres) Applied(ctx context.Context) (map[string]string, error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	c, err := p.connect(ctx, false)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := c.QueryRow(ctx, `SELECT to_regclass('gitfleet_changes') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, p.timedOut(ctx, redactPG(err))
	}
	if !exists {
		return map[string]string{}, nil
	}
	rows, err := c.Query(ctx, `SELECT id, checksum FROM gitfleet_changes`)
	if err != nil {
		return nil, p.timedOut(ctx, redactPG(err))
	}
	res := map[string]string{}
	for rows.Next() {
		var id, sum string
		if err := rows.Scan(&id, &sum); err != nil {
			return nil, err
		}
		res[id] = sum
	}
	return res, rows.Err()
}

// Apply runs the change and records it, both in one transaction when the
// change allows (a failure then leaves nothing behind). A change whose id
// is recorded already is skipped; one recorded with another checksum is an
// error: the file was edited after it was applied.
func (p *Postgres) Apply(ctx context.Context, ch fleet.DBChange) (skipped bool, err error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	c, err := p.connect(ctx, true)
	if err != nil {
		return false, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var have string
	switch err := c.QueryRow(ctx, `SELECT checksum FROM gitfleet_changes WHERE id = $1`, ch.ID).Scan(&have); {
	case err == nil && have == ch.Checksum:
		return true, nil
	case err == nil:
		return false, fmt.Errorf("database change %s was applied with checksum %.12s, the repository now has %.12s: it was edited after it was applied", ch.ID, have, ch.Checksum)
	case !errors.Is(err, pgx.ErrNoRows):
		return false, err
	}
	record := func(q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}) error {
		_, err := q.Exec(ctx, `INSERT INTO gitfleet_changes (id, checksum, revision, app, environment) VALUES ($1, $2, $3, $4, $5)`,
			ch.ID, ch.Checksum, ch.Revision, ch.App, ch.Environment)
		return err
	}
	if !ch.Transaction {
		if ch.SQL != "" {
			if _, err := c.Exec(ctx, ch.SQL); err != nil {
				return false, fmt.Errorf("database change %s: %w", ch.ID, p.timedOut(ctx, redactPG(err)))
			}
		}
		return false, record(c)
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if ch.SQL != "" {
		if _, err := tx.Exec(ctx, ch.SQL); err != nil {
			return false, fmt.Errorf("database change %s (rolled back): %w", ch.ID, p.timedOut(ctx, redactPG(err)))
		}
	}
	if err := record(tx); err != nil {
		return false, err
	}
	return false, tx.Commit(ctx)
}

// timedOut names the bound when ctx ran out: pgx reports a cancelled
// statement as one the server cancelled.
func (p *Postgres) timedOut(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	t := p.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return fmt.Errorf("%w (timeout %s: %w)", err, t, ctx.Err())
}
