package db_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/db"
	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestPostgresApplySkipMismatchRollback(t *testing.T) {
	pg := pgtest.Start(t)
	pdb := &db.Postgres{DSN: pg.DSN}
	ctx := context.Background()
	create := fleet.DBChange{ID: "0001_orders", SQL: "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1);", Checksum: "aaa", Transaction: true, Revision: "r1", App: "web", Environment: "prod"}
	if skipped, err := pdb.Apply(ctx, create); err != nil || skipped {
		t.Fatalf("first apply: skipped %v, %v", skipped, err)
	}
	// Applied once: skipped, not run again (it would fail: the table exists).
	if skipped, err := pdb.Apply(ctx, create); err != nil || !skipped {
		t.Fatalf("second apply: skipped %v, %v; want skipped", skipped, err)
	}
	applied, err := pdb.Applied(ctx)
	if err != nil || applied["0001_orders"] != "aaa" {
		t.Fatalf("applied: %v, %v", applied, err)
	}
	// Edited after it was applied.
	edited := create
	edited.Checksum = "bbb"
	if _, err := pdb.Apply(ctx, edited); err == nil || !strings.Contains(err.Error(), "edited after it was applied") {
		t.Errorf("checksum mismatch: %v", err)
	}
	// A failing change leaves nothing: its first statement is rolled back
	// and it is not recorded.
	bad := fleet.DBChange{ID: "0002_bad", SQL: "INSERT INTO orders VALUES (2); INSERT INTO nosuch VALUES (1);", Checksum: "ccc", Transaction: true, Revision: "r2"}
	if _, err := pdb.Apply(ctx, bad); err == nil || !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("failing change: %v", err)
	}
	c, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	c.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n)
	if n != 1 {
		t.Errorf("orders has %d rows after the failed change, want 1 (rolled back)", n)
	}
	if applied, _ := pdb.Applied(ctx); applied["0002_bad"] != "" {
		t.Error("the failed change was recorded")
	}
	// Outside a transaction, for what cannot run in one.
	idx := fleet.DBChange{ID: "0003_index", SQL: "CREATE INDEX CONCURRENTLY orders_id ON orders (id)", Checksum: "ddd", Revision: "r3"}
	if _, err := pdb.Apply(ctx, idx); err != nil {
		t.Errorf("change outside a transaction: %v", err)
	}
	// A wrong password never shows in the error.
	bad2 := &db.Postgres{DSN: "postgres://postgres:s3cret@127.0.0.1:1/postgres?sslmode=disable"}
	if _, err := bad2.Applied(ctx); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("unreachable database: %v (must not show the password)", err)
	}
}

// TestPostgresTimeoutBoundsAChange: a change that runs longer than the
// database's timeout is cancelled, rolled back and not recorded, and the
// error names the timeout.
func TestPostgresTimeoutBoundsAChange(t *testing.T) {
	pg := pgtest.Start(t)
	pdb := &db.Postgres{DSN: pg.DSN, Timeout: 2 * time.Second}
	ctx := context.Background()
	slow := fleet.DBChange{ID: "0001_slow", SQL: "SELECT pg_sleep(30)", Checksum: "aaa", Transaction: true, Revision: "r1"}
	_, err := pdb.Apply(ctx, slow)
	if err == nil || !strings.Contains(err.Error(), "timeout 2s") {
		t.Fatalf("got %v, want the change cut at the 2s timeout", err)
	}
	if applied, err := pdb.Applied(ctx); err != nil || applied["0001_slow"] != "" {
		t.Errorf("applied after the timeout: %v, %v; want the change not recorded", applied, err)
	}
}
