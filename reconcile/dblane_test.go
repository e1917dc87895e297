package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/db"
	"github.com/gitfleet/gitfleet/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestDatabaseLane runs the database lane against a real PostgreSQL: one
// commit adds environment config, a database change and a new version;
// the order is environment, database, files. A failing change rolls back
// and keeps the files from activating; an edited change is refused; an
// irreversible change with the files needs allowIrreversible.
func TestDatabaseLane(t *testing.T) {
	pg := pgtest.Start(t)
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	c, _ := newController(t, fleet, withDB(&db.Postgres{DSN: pg.DSN}))
	ctx := context.Background()
	c.Update(snapshot(t, dir))
	c.Pass(ctx, ctx, c.Desired())

	write := func(name, content string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("env.yaml", "kind: Environment\nname: prod\nservers: [{name: a}, {name: b}, {name: c}]\nconfig:\n  files: [{path: /srv/etc/web.conf, content: \"x=1\\n\"}]\n")
	write("db/0001.sql", "CREATE TABLE orders (id int PRIMARY KEY);")
	release := func(version, changes string) {
		write("release.yaml", "kind: Release\napp: web\nenvironment: prod\nversion: "+version+"\ndatabase:\n  target: main\n  changes:\n"+changes)
	}
	release("v2", "    - {id: 0001_orders, sql: db/0001.sql}\n")
	c.Update(snapshot(t, dir))
	p := preview(c)
	var lanes []string
	for _, ch := range p.Changes {
		lanes = append(lanes, string(ch.Lane))
	}
	if strings.Join(lanes, ",") != "environment,database,files" {
		t.Fatalf("plan lanes %v, want environment, database, files", lanes)
	}
	var b strings.Builder
	p.WriteText(&b)
	if !strings.Contains(b.String(), "prod/web v2: database main (lane database)") || !strings.Contains(b.String(), "0001_orders  sql db/0001.sql") {
		t.Errorf("plan text:\n%s", b.String())
	}
	// Pass 1: environment and database, files wait. Pass 2: files.
	pr := c.Pass(ctx, ctx, c.Desired())
	if len(pr.Results) != 3 || pr.Results[0].Failed()+pr.Results[1].Failed() != 0 || !pr.Results[2].Waiting {
		t.Fatalf("first pass: %+v", pr.Results)
	}
	if running(t, fleet, "a") != "v1" {
		t.Fatal("the files activated in the same pass as the database change")
	}
	c.Pass(ctx, ctx, c.Desired())
	if running(t, fleet, "a") != "v2" {
		t.Fatal("the files did not activate once the database lane converged")
	}
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	conn.QueryRow(ctx, "SELECT count(*) FROM gitfleet_changes WHERE id = '0001_orders'").Scan(&n)
	if n != 1 {
		t.Fatalf("0001_orders recorded %d times, want 1", n)
	}

	// A failing change: rolled back, not recorded, and v1 → nothing: the
	// files of the new version stay where they were.
	write("db/0002.sql", "INSERT INTO orders VALUES (1); INSERT INTO nosuch VALUES (1);")
	release("v1", "    - {id: 0001_orders, sql: db/0001.sql}\n    - {id: 0002_bad, sql: db/0002.sql}\n")
	c.Update(snapshot(t, dir))
	for i := 0; i < 2; i++ {
		c.Pass(ctx, ctx, c.Desired())
	}
	if running(t, fleet, "a") != "v2" {
		t.Error("the files moved although their database change failed")
	}
	conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n)
	if n != 0 {
		t.Errorf("orders has %d rows: the failed change was not rolled back", n)
	}

	// The applied change's file is edited: refused, files blocked.
	write("db/0001.sql", "CREATE TABLE orders (id bigint PRIMARY KEY);")
	release("v1", "    - {id: 0001_orders, sql: db/0001.sql}\n")
	c.Update(snapshot(t, dir))
	p = preview(c)
	if len(p.Changes) != 2 || !strings.Contains(p.Changes[0].Blocked, "edited after it was applied") || p.Changes[1].Wait == nil {
		t.Fatalf("edited change: %+v", p.Changes)
	}

	// An irreversible change in the same step as the files.
	write("db/0001.sql", "CREATE TABLE orders (id int PRIMARY KEY);")
	write("db/0003.sql", "DROP TABLE orders;")
	release("v1", "    - {id: 0001_orders, sql: db/0001.sql}\n    - {id: 0003_drop, sql: db/0003.sql, irreversible: true}\n")
	c.Update(snapshot(t, dir))
	p = preview(c)
	if len(p.Changes) != 2 || !strings.Contains(p.Changes[0].Blocked, "allowIrreversible") || !strings.Contains(p.Changes[0].Warning, "irreversible: 0003_drop") {
		t.Fatalf("irreversible with the files: %+v", p.Changes[0])
	}
	b.Reset()
	p.WriteText(&b)
	if !strings.Contains(b.String(), "WARNING irreversible: 0003_drop") {
		t.Errorf("plan text lacks the warning:\n%s", b.String())
	}
	write("release.yaml", "kind: Release\napp: web\nenvironment: prod\nversion: v1\ndatabase:\n  target: main\n  allowIrreversible: true\n  changes:\n    - {id: 0001_orders, sql: db/0001.sql}\n    - {id: 0003_drop, sql: db/0003.sql, irreversible: true}\n")
	c.Update(snapshot(t, dir))
	for i := 0; i < 2; i++ {
		c.Pass(ctx, ctx, c.Desired())
	}
	if running(t, fleet, "a") != "v1" {
		t.Error("with allowIrreversible the release did not go ahead")
	}
	var exists bool
	conn.QueryRow(ctx, "SELECT to_regclass('orders') IS NOT NULL").Scan(&exists)
	if exists {
		t.Error("0003_drop did not run")
	}
}
